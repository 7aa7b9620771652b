//! Shared by the restore tests: documents with one root of every kind, edits touching all of
//! them, and a comparison of content that covers formatting, not just JSON.

// Each restore test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use crdt_core::export::to_json;
use serde_json::json;
use yrs::types::Attrs;
use yrs::types::text::YChange;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Array, ArrayPrelim, Doc, GetString, Map, MapPrelim, OffsetKind, Options, Out, ReadTxn,
    StateVector, Text, TextPrelim, Transact, Update, Xml, XmlElementPrelim, XmlFragment,
    XmlTextPrelim,
};

pub fn state_of(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

pub fn apply(doc: &Doc, update: &[u8]) {
    doc.transact_mut()
        .apply_update(Update::decode_v1(update).expect("update decodes"))
        .expect("update applies");
}

/// A fresh document (default options) that learned `update` only.
pub fn received(update: &[u8]) -> Doc {
    let doc = Doc::new();
    apply(&doc, update);
    doc
}

pub fn bold() -> Attrs {
    Attrs::from([("bold".into(), Any::Bool(true))])
}

/// The author's document: one root of every kind, non-ASCII text, formatting, nesting, and an
/// XML attribute whose value is a number.
pub fn authored(options: Options) -> Doc {
    let doc = Doc::with_options(options);
    let body = doc.get_or_insert_text("body");
    let meta = doc.get_or_insert_map("meta");
    let list = doc.get_or_insert_array("list");
    let prose = doc.get_or_insert_xml_fragment("prose");
    let mut txn = doc.transact_mut();
    body.push(&mut txn, "hé");
    let end = body.len(&txn);
    body.insert_with_attributes(&mut txn, end, "llo 日", bold());
    let end = body.len(&txn);
    body.insert(&mut txn, end, "本 🎉 world");
    meta.insert(&mut txn, "title", "Plan");
    meta.insert(&mut txn, "count", 3);
    let owner = meta.insert(&mut txn, "owner", MapPrelim::default());
    owner.insert(&mut txn, "name", "Ada");
    meta.insert(&mut txn, "tags", ArrayPrelim::from(vec!["a", "b"]));
    meta.insert(&mut txn, "note", TextPrelim::new("nested ✓"));
    list.push_back(&mut txn, 1);
    list.push_back(&mut txn, "two");
    list.push_back(
        &mut txn,
        Any::from(std::collections::HashMap::from([(
            "three".to_owned(),
            Any::from(3),
        )])),
    );
    let item = list.push_back(&mut txn, MapPrelim::default());
    item.insert(&mut txn, "done", false);
    let heading = prose.push_back(&mut txn, XmlElementPrelim::empty("heading"));
    heading.insert_attribute(&mut txn, "level", 1);
    heading.push_back(&mut txn, XmlTextPrelim::new("Title"));
    let paragraph = prose.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
    let words = paragraph.push_back(&mut txn, XmlTextPrelim::new("Some "));
    words.insert_with_attributes(&mut txn, 5, "text", bold());
    drop(txn);
    doc
}

/// Edits touching every root on a client that knows `state`; returns the client's update.
pub fn edited(state: &[u8], options: Options) -> Vec<u8> {
    let doc = Doc::with_options(options);
    apply(&doc, state);
    let body = doc.get_or_insert_text("body");
    let meta = doc.get_or_insert_map("meta");
    let list = doc.get_or_insert_array("list");
    let prose = doc.get_or_insert_xml_fragment("prose");
    let added = doc.get_or_insert_text("added");
    let before = doc.transact().state_vector();
    let mut txn = doc.transact_mut();
    body.insert(&mut txn, 0, "NEW ");
    let text = body.get_string(&txn);
    let offset_kind = txn.doc().offset_kind();
    let offset = |part: &str| -> u32 {
        let bytes = text.find(part).expect("part is in the text");
        match offset_kind {
            OffsetKind::Bytes => bytes as u32,
            OffsetKind::Utf16 => text[..bytes].encode_utf16().count() as u32,
        }
    };
    let (emoji, length) = (offset("🎉"), offset(" world") - offset("🎉"));
    body.remove_range(&mut txn, emoji, length);
    body.format(
        &mut txn,
        offset("llo"),
        3,
        Attrs::from([("bold".into(), Any::Null)]),
    );
    let end = body.len(&txn);
    body.insert(&mut txn, end, "!");
    meta.insert(&mut txn, "title", "Changed");
    meta.remove(&mut txn, "count");
    meta.insert(&mut txn, "extra", true);
    if let Some(Out::YMap(owner)) = meta.get(&txn, "owner") {
        owner.insert(&mut txn, "name", "Bob");
    }
    if let Some(Out::YArray(tags)) = meta.get(&txn, "tags") {
        tags.push_back(&mut txn, "c");
    }
    list.remove(&mut txn, 1);
    list.insert(&mut txn, 0, "zero");
    list.push_back(&mut txn, 99);
    if let Some(yrs::XmlOut::Element(heading)) = prose.get(&txn, 0) {
        heading.insert_attribute(&mut txn, "level", 2);
        heading.push_back(&mut txn, XmlTextPrelim::new(" (draft)"));
    }
    prose.remove(&mut txn, 1);
    prose.push_back(&mut txn, XmlElementPrelim::empty("rule"));
    added.push(&mut txn, "only after the version");
    txn.encode_state_as_update_v1(&before)
}

/// Each text root as (text, formatting) runs, merging runs that carry the same formatting.
pub fn formatting(doc: &Doc) -> BTreeMap<String, Vec<(String, Option<Attrs>)>> {
    let names: Vec<String> = to_json(doc)
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, value)| value.is_string())
        .map(|(name, _)| name.clone())
        .collect();
    let txn = doc.transact();
    names
        .into_iter()
        .filter_map(|name| {
            let text = txn.get_text(name.as_str())?;
            let mut runs: Vec<(String, Option<Attrs>)> = Vec::new();
            for chunk in text.diff(&txn, YChange::identity) {
                let Out::Any(Any::String(piece)) = chunk.insert else {
                    continue;
                };
                let attributes = chunk.attributes.map(|attributes| *attributes);
                match runs.last_mut() {
                    Some((run, existing)) if *existing == attributes => run.push_str(&piece),
                    _ => runs.push((piece.to_string(), attributes)),
                }
            }
            Some((name, runs))
        })
        .collect()
}

/// Asserts `doc` reads like `version`: the same value for every root the version holds, and
/// nothing in any other root.
pub fn assert_content_equals(doc: &Doc, version: &Doc) {
    let (actual, expected) = (to_json(doc), to_json(version));
    for (name, value) in actual.as_object().unwrap() {
        match expected.get(name) {
            Some(wanted) => assert_eq!(value, wanted, "root {name:?}"),
            None => assert!(
                value == &json!([]) || value == &json!("") || value == &json!({}),
                "root {name:?} should be empty, is {value}"
            ),
        }
    }
    for name in expected.as_object().unwrap().keys() {
        assert!(actual.get(name).is_some(), "root {name:?} is missing");
    }
    let wanted = formatting(version);
    let found = formatting(doc);
    for (name, runs) in wanted {
        assert_eq!(found.get(&name), Some(&runs), "formatting of {name:?}");
    }
}

/// The heading's `level` attribute as stored (a number, not its string form).
pub fn heading_level(doc: &Doc) -> Option<Out> {
    let txn = doc.transact();
    let prose = txn.get_xml_fragment("prose")?;
    match prose.get(&txn, 0)? {
        yrs::XmlOut::Element(heading) => heading.get_attribute(&txn, "level"),
        _ => None,
    }
}
