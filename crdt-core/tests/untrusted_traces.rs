//! Real documents pass the untrusted-input walk with room to spare.
//!
//! The v2 budget ([`V2_UNITS_PER_BYTE`]) must never refuse what Yjs's encoder produces. A v2
//! update decodes into what its v1 form does, and a v1 update spends at most one budget unit
//! per byte, so a v2 update spends at most `v1 size / v2 size` units per byte. On both editing
//! traces that ratio stays under half the budget, for the whole document and (automerge-paper)
//! for each of its 259,778 edits, all of which decode through `crdt_core::untrusted`. Without
//! the trace files each test prints why and passes.

#[path = "../benches/trace/mod.rs"]
#[allow(dead_code)]
mod trace;

use crdt_core::untrusted::{V2_UNITS_PER_BYTE, decode_update_v1, decode_update_v2};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

/// Half the budget: what real documents must stay under.
const MARGIN: f64 = V2_UNITS_PER_BYTE as f64 / 2.0;

/// Checks a whole document both ways; its v1/v2 size ratio.
fn check_whole_document(name: &str, doc: &Doc) -> f64 {
    let txn = doc.transact();
    let v1 = txn.encode_state_as_update_v1(&StateVector::default());
    let v2 = txn.encode_state_as_update_v2(&StateVector::default());
    decode_update_v1(&v1).expect("the whole document passes the walk");
    let from_v2 = decode_update_v2(&v2).expect("so does its v2 form");
    assert_eq!(
        from_v2.encode_v1(),
        Update::decode_v1(&v1).unwrap().encode_v1()
    );
    let ratio = v1.len() as f64 / v2.len() as f64;
    eprintln!(
        "{name}: whole document v1 {} / v2 {} bytes = {ratio:.2} units per v2 byte at most",
        v1.len(),
        v2.len()
    );
    ratio
}

/// The automerge-paper trace, edit by edit and whole.
#[test]
fn automerge_paper_passes_with_room_to_spare() {
    let Some(trace) = load("automerge-paper.json.gz") else {
        return;
    };
    let edits = trace::per_edit_updates(&trace, None);
    let doc = Doc::new();
    let mut worst: f64 = 0.0;
    for update in &edits.updates {
        let decoded = decode_update_v1(update).expect("a real edit passes the walk");
        let v2 = decoded.encode_v2();
        decode_update_v2(&v2).expect("its v2 form passes too");
        worst = worst.max(update.len() as f64 / v2.len() as f64);
        doc.transact_mut().apply_update(decoded).unwrap();
    }
    let text = doc.get_or_insert_text(trace::TEXT_NAME);
    assert_eq!(text.get_string(&doc.transact()), trace.end_content);
    eprintln!("automerge-paper: worst single edit {worst:.2} units per v2 byte at most");
    assert!(worst < MARGIN);
    assert!(check_whole_document("automerge-paper", &doc) < MARGIN);
}

/// The seph-blog1 trace, whole: 137,154 transactions, a few non-ASCII characters.
#[test]
fn seph_blog_passes_with_room_to_spare() {
    let Some(trace) = load("seph-blog1.json.gz") else {
        return;
    };
    // Its only non-ASCII characters are in the Basic Multilingual Plane, so its code-point
    // positions are UTF-16 positions. Replayed a thousand patches per transaction: the final
    // document is the same, and a debug build gets there in a second.
    let doc = Doc::with_options(yrs::Options {
        offset_kind: yrs::OffsetKind::Utf16,
        ..yrs::Options::default()
    });
    let text = doc.get_or_insert_text(trace::TEXT_NAME);
    let patches: Vec<_> = trace.txns.iter().flat_map(|txn| &txn.patches).collect();
    for chunk in patches.chunks(1_000) {
        let mut txn = doc.transact_mut();
        for trace::Patch(position, deleted, inserted) in chunk {
            text.remove_range(&mut txn, *position, *deleted);
            text.insert(&mut txn, *position, inserted);
        }
    }
    assert_eq!(text.get_string(&doc.transact()), trace.end_content);
    assert!(check_whole_document("seph-blog1", &doc) < MARGIN);
}

fn load(file: &str) -> Option<trace::Trace> {
    match trace::load(file) {
        Ok(trace) => Some(trace),
        Err(error) => {
            eprintln!("untrusted_traces: skipping: {error}");
            None
        }
    }
}
