use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use yrs::types::text::YChange;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Any, Array, Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update, WriteTxn,
    XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

use super::*;

/// The frame of issue #22 without its two y-protocols header bytes and length: a state vector
/// claiming about 4.4 x 10^11 entries in 7 bytes.
const CLAIMS_HALF_A_TRILLION: [u8; 7] = [0xdb, 0xb9, 0x9a, 0xff, 0x8a, 0x0d, 0x0d];

#[test]
fn a_state_vector_claiming_more_entries_than_bytes_is_refused() {
    assert!(matches!(
        decode_state_vector(&CLAIMS_HALF_A_TRILLION),
        Err(DecodeError::CountExceedsInput { .. })
    ));
    // Three entries announced, room for two.
    assert!(matches!(
        check_state_vector(&[3, 1, 1, 2, 2]),
        Err(DecodeError::CountExceedsInput { count: 3, .. })
    ));
}

#[test]
fn real_state_vectors_decode_as_yrs_decodes_them() {
    let doc = edited_doc(&[
        Edit::Text(0, "hello".into()),
        Edit::MapNumber("n".into(), 3),
    ]);
    let other = Doc::new();
    other
        .transact_mut()
        .apply_update(
            Update::decode_v1(
                &doc.transact()
                    .encode_state_as_update_v1(&StateVector::default()),
            )
            .unwrap(),
        )
        .unwrap();
    other
        .get_or_insert_text("t")
        .insert(&mut other.transact_mut(), 0, "x");
    let state = other.transact().state_vector();
    let encoded = state.encode_v1();
    assert_eq!(decode_state_vector(&encoded).unwrap(), state);
    assert_eq!(decode_state_vector(&[0]).unwrap(), StateVector::default());
}

#[test]
fn client_ids_over_53_bits_are_refused() {
    // One entry: client 2^53, clock 0.
    let state_vector = [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0];
    assert!(matches!(
        check_state_vector(&state_vector),
        Err(DecodeError::NumberTooWide { bits: 53 })
    ));
}

#[test]
fn nested_arrays_deeper_than_the_limit_are_refused_without_recursing_into_yrs() {
    // An update of one client with one item whose Any content is 100,000 nested arrays: yrs's
    // recursive decoder would run off the stack.
    let mut update = vec![1, 1, 1, 0, 8, 1, b't', 1];
    for _ in 0..100_000 {
        update.extend_from_slice(&[117, 1]);
    }
    update.push(126);
    update.push(0);
    assert!(matches!(
        decode_update_v1(&update),
        Err(DecodeError::NestingTooDeep)
    ));
}

#[test]
fn awareness_states_must_be_json_and_within_the_limit() {
    let valid = awareness(&[(1, 4, r#"{"user":{"name":"ana"}}"#), (2, 1, "null")]);
    let decoded = decode_awareness_update(&valid, 1024).unwrap();
    assert_eq!(decoded.clients.len(), 2);

    let truncated_json = awareness(&[(1, 4, r#"{"user":"#)]);
    assert!(matches!(
        check_awareness_update(&truncated_json, 1024),
        Err(DecodeError::AwarenessNotJson { client: 1, .. })
    ));
    let large = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2000));
    assert!(matches!(
        check_awareness_update(&awareness(&[(7, 1, &large)]), 1024),
        Err(DecodeError::AwarenessTooLarge { client: 7, .. })
    ));
    // Ten entries announced in four bytes.
    assert!(matches!(
        check_awareness_update(&[10, 1, 1, 0], 1024),
        Err(DecodeError::CountExceedsInput { count: 10, .. })
    ));
}

#[test]
fn a_v2_update_that_expands_without_bound_is_refused() {
    // 31 bytes standing for 2^32 - 1 garbage-collected blocks: the block count sits in the plain
    // section, and the info and length columns repeat their one value for as long as asked.
    let forged: Vec<u8> = [
        &[0][..],                                 // feature flags
        &[0],                                     // key clocks
        &[1, 0x01],                               // clients: client 1
        &[0],                                     // left clocks
        &[0],                                     // right clocks
        &[1, 0x00],                               // infos: GC, forever
        &[1, 0x00],                               // strings: none
        &[0],                                     // parent infos
        &[0],                                     // type refs
        &[6, 0x41, 0xff, 0xff, 0xff, 0xff, 0x07], // lengths: 1, repeated 2^35 times
        &[1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0],    // 1 client, 2^32 - 1 blocks from clock 0
        &[0],                                     // no deletions
    ]
    .concat();
    let refused = decode_update_v2(&forged);
    assert!(
        matches!(refused, Err(DecodeError::ExpandsTooFar { .. })),
        "{refused:?}"
    );
    // An honest v2 update of many blocks decodes.
    let mut edits: Vec<Edit> = (0..40).map(|at| Edit::Text(at, "x".into())).collect();
    edits.push(Edit::Delete(0, 40));
    let doc = edited_doc(&edits);
    let honest = doc
        .transact()
        .encode_state_as_update_v2(&StateVector::default());
    assert!(decode_update_v2(&honest).is_ok());
}

fn awareness(entries: &[(u64, u32, &str)]) -> Vec<u8> {
    let update = AwarenessUpdate {
        clients: entries
            .iter()
            .map(|(client, clock, json)| {
                (
                    yrs::block::ClientID::new(*client),
                    yrs::sync::awareness::AwarenessUpdateEntry {
                        clock: *clock,
                        json: Arc::from(*json),
                    },
                )
            })
            .collect(),
    };
    update.encode_v1()
}

/// One change to a test document, covering every kind of content Yjs encodes.
#[derive(Debug, Clone)]
enum Edit {
    Text(u32, String),
    Delete(u32, u32),
    Bold(u32, u32),
    MapNumber(String, i64),
    MapNested(String, u8),
    ArrayPush(String),
    ArrayBinary(Vec<u8>),
    Xml(String, String),
    SubDocument(String),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0u32..50, "[a-zé😀 ]{1,12}").prop_map(|(at, text)| Edit::Text(at, text)),
        (0u32..50, 1u32..6).prop_map(|(at, length)| Edit::Delete(at, length)),
        (0u32..50, 1u32..6).prop_map(|(at, length)| Edit::Bold(at, length)),
        ("[a-c]", any::<i64>()).prop_map(|(key, value)| Edit::MapNumber(key, value)),
        ("[a-c]", 0u8..6).prop_map(|(key, depth)| Edit::MapNested(key, depth)),
        "[a-z]{0,8}".prop_map(Edit::ArrayPush),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Edit::ArrayBinary),
        ("[a-z]{1,6}", "[a-z ]{0,8}").prop_map(|(tag, text)| Edit::Xml(tag, text)),
        "[a-z]{1,4}".prop_map(Edit::SubDocument),
    ]
}

fn nested(depth: u8) -> Any {
    if depth == 0 {
        return Any::from(1.5);
    }
    let mut map = HashMap::new();
    map.insert("inner".to_owned(), nested(depth - 1));
    map.insert("flag".to_owned(), Any::Bool(depth.is_multiple_of(2)));
    Any::Array(Arc::from(vec![Any::Map(Arc::new(map)), Any::Null]))
}

fn edited_doc(edits: &[Edit]) -> Doc {
    // Positions count UTF-16 units, as in Yjs, so any position is a valid one.
    let doc = Doc::with_options(yrs::Options {
        offset_kind: yrs::OffsetKind::Utf16,
        ..yrs::Options::default()
    });
    for edit in edits {
        // Each edit in its own transaction, so updates hold several blocks per client.
        let mut txn = doc.transact_mut();
        let text = txn.get_or_insert_text("t");
        let length = text.len(&txn);
        match edit {
            Edit::Text(at, value) => text.insert(&mut txn, (*at).min(length), value),
            Edit::Delete(at, count) => {
                let at = (*at).min(length);
                text.remove_range(&mut txn, at, (*count).min(length - at));
            }
            Edit::Bold(at, count) => {
                let at = (*at).min(length);
                let attributes = HashMap::from([(Arc::from("bold"), Any::Bool(true))]);
                text.format(&mut txn, at, (*count).min(length - at), attributes);
            }
            Edit::MapNumber(key, value) => {
                txn.get_or_insert_map("m")
                    .insert(&mut txn, key.as_str(), *value);
            }
            Edit::MapNested(key, depth) => {
                txn.get_or_insert_map("m")
                    .insert(&mut txn, key.as_str(), nested(*depth));
            }
            Edit::ArrayPush(value) => {
                txn.get_or_insert_array("a")
                    .push_back(&mut txn, value.as_str());
            }
            Edit::ArrayBinary(bytes) => {
                txn.get_or_insert_array("a")
                    .push_back(&mut txn, bytes.clone());
            }
            Edit::Xml(tag, value) => {
                let fragment = txn.get_or_insert_xml_fragment("x");
                let element = fragment.push_back(&mut txn, XmlElementPrelim::empty(tag.as_str()));
                element.push_back(&mut txn, XmlTextPrelim::new(value.as_str()));
            }
            Edit::SubDocument(key) => {
                txn.get_or_insert_map("m")
                    .insert(&mut txn, key.as_str(), Doc::new());
            }
        }
    }
    doc
}

fn text_of(update: Update) -> String {
    let doc = Doc::new();
    doc.transact_mut().apply_update(update).unwrap();
    let text = doc.get_or_insert_text("t");
    let txn = doc.transact();
    let mut out = text.get_string(&txn);
    for chunk in text.diff(&txn, YChange::identity) {
        out.push_str(&format!("|{:?}", chunk.attributes));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever a Yjs document holds, its updates and state vector pass the walk and decode to
    /// what yrs alone decodes them to.
    #[test]
    fn valid_encodings_decode_as_yrs_decodes_them(edits in proptest::collection::vec(edit_strategy(), 1..24)) {
        let doc = edited_doc(&edits);
        let txn = doc.transact();
        let v1 = txn.encode_state_as_update_v1(&StateVector::default());
        let v2 = txn.encode_state_as_update_v2(&StateVector::default());
        let expected = text_of(Update::decode_v1(&v1).unwrap());
        prop_assert_eq!(text_of(decode_update_v1(&v1).unwrap()), expected.clone());
        prop_assert_eq!(text_of(decode_update_v2(&v2).unwrap()), expected);
        let state = txn.state_vector();
        prop_assert_eq!(decode_state_vector(&state.encode_v1()).unwrap(), state);
    }

    /// Cut short anywhere, an update the walk accepts is one yrs decodes too: the walk reads the
    /// bytes exactly as yrs does. (Counts in a prefix of an honest update stay honest, so yrs
    /// can be asked safely.)
    #[test]
    fn truncated_updates_are_judged_as_yrs_judges_them(edits in proptest::collection::vec(edit_strategy(), 1..12), cut in any::<prop::sample::Index>()) {
        let doc = edited_doc(&edits);
        let v1 = doc.transact().encode_state_as_update_v1(&StateVector::default());
        let prefix = &v1[..cut.index(v1.len())];
        if update::check_v1(prefix).is_ok() {
            prop_assert!(Update::decode_v1(prefix).is_ok());
        }
        if Update::decode_v1(prefix).is_ok() {
            prop_assert!(update::check_v1(prefix).is_ok(), "walk refused what yrs decodes");
        }
    }
}

/// The update the mutation fuzz got relayed to stock clients, which threw "Unexpected case" on
/// it: no blocks, and a deleted range of client 104 whose clock yrs reads as 0 (ten bytes of
/// varint wrap around) and Yjs as a number past 2^53.
#[test]
fn numbers_yrs_would_wrap_are_refused_before_they_are_relayed() {
    let wrapped_clock = [
        0x00, 0x01, 0x68, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x68, 0x29,
    ];
    assert!(
        Update::decode_v1(&wrapped_clock).is_ok(),
        "yrs alone accepts it"
    );
    assert!(matches!(
        decode_update_v1(&wrapped_clock),
        Err(DecodeError::NumberTooWide { bits: 32 })
    ));
    // A string whose length wraps: Yjs would read past the end of the update.
    let doc = edited_doc(&[Edit::Text(0, "abc".into())]);
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let length_at = update
        .windows(4)
        .position(|window| window == [3, b'a', b'b', b'c'])
        .expect("the string content is in the update");
    let mut wrapped_length = update[..length_at].to_vec();
    wrapped_length.extend_from_slice(&[0x83, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]);
    wrapped_length.extend_from_slice(&update[length_at + 1..]);
    assert!(
        Update::decode_v1(&wrapped_length).is_ok(),
        "yrs alone reads 3"
    );
    assert!(matches!(
        decode_update_v1(&wrapped_length),
        Err(DecodeError::NumberTooWide { bits: 32 })
    ));
}
