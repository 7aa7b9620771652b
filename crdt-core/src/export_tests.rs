//! Tests of [`super`]: each document is built on its own `Doc` with typed roots, encoded, and
//! applied to a fresh `Doc`, where (as on the server) every root arrives undefined. So these
//! prove the kind inference, not just yrs's typed readers.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use yrs::types::Attrs;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Array, ArrayPrelim, Doc, Map, MapPrelim, ReadTxn, StateVector, Text, TextPrelim, Transact,
    Update, XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

use super::*;

/// A fresh document that learned `source` only through its v1 update.
fn received(source: &Doc) -> Doc {
    let update = source
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let doc = Doc::new();
    doc.transact_mut()
        .apply_update(Update::decode_v1(&update).expect("update decodes"))
        .expect("update applies");
    assert!(
        doc.transact()
            .root_refs()
            .all(|(_, root)| matches!(root, Out::UndefinedRef(_))),
        "a received root must arrive undefined for these tests to prove the inference"
    );
    doc
}

fn text_doc(root: &str, content: &str) -> Doc {
    let doc = Doc::new();
    let text = doc.get_or_insert_text(root);
    text.insert(&mut doc.transact_mut(), 0, content);
    doc
}

fn names(roots: &[(String, RootKind)]) -> Vec<(&str, RootKind)> {
    roots
        .iter()
        .map(|(name, kind)| (name.as_str(), *kind))
        .collect()
}

#[test]
fn formats_parse_from_their_names_and_unknown_names_list_the_choices() {
    for format in ExportFormat::ALL {
        assert_eq!(format.name().parse::<ExportFormat>(), Ok(format));
    }
    let error = "yaml".parse::<ExportFormat>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown export format \"yaml\": expected one of update, update-v2, json, text, html, markdown, \
         prosemirror-json"
    );
    assert!(ExportFormat::UpdateV2.is_binary() && !ExportFormat::Json.is_binary());
}

#[test]
fn received_text_is_inferred_and_read() {
    let doc = received(&text_doc("content", "hello world"));
    assert_eq!(names(&roots(&doc)), [("content", RootKind::Text)]);
    assert_eq!(to_json(&doc), json!({ "content": "hello world" }));
    assert_eq!(text(&doc, None).unwrap(), "hello world");
    assert_eq!(text(&doc, Some("content")).unwrap(), "hello world");
}

#[test]
fn formatted_text_with_embeds_is_still_text() {
    let source = Doc::new();
    let text_root = source.get_or_insert_text("quill");
    {
        let mut transaction = source.transact_mut();
        let bold: Attrs = HashMap::from([(Arc::from("bold"), Any::Bool(true))]);
        text_root.insert_with_attributes(&mut transaction, 0, "bold", bold);
        text_root.insert(&mut transaction, 4, " plain");
        text_root.insert_embed(
            &mut transaction,
            0,
            Any::from(HashMap::from([("image".to_owned(), Any::from("cat.png"))])),
        );
    }
    let doc = received(&source);
    assert_eq!(names(&roots(&doc)), [("quill", RootKind::Text)]);
    assert_eq!(text(&doc, None).unwrap(), "bold plain");
}

#[test]
fn received_map_keeps_nested_values_and_types() {
    let source = Doc::new();
    let map = source.get_or_insert_map("settings");
    {
        let mut transaction = source.transact_mut();
        map.insert(&mut transaction, "title", "Quire");
        map.insert(&mut transaction, "count", 3);
        map.insert(&mut transaction, "ratio", 0.5);
        map.insert(&mut transaction, "enabled", true);
        map.insert(&mut transaction, "nothing", Any::Null);
        map.insert(&mut transaction, "bytes", Any::from(vec![1u8, 2, 255]));
        map.insert(
            &mut transaction,
            "plain",
            Any::from(vec![Any::from(1), Any::from("a")]),
        );
        map.insert(
            &mut transaction,
            "nested",
            MapPrelim::from([("inner", Any::from("value"))]),
        );
        map.insert(&mut transaction, "list", ArrayPrelim::from([1, 2]));
        map.insert(&mut transaction, "note", TextPrelim::new("typed"));
    }
    let doc = received(&source);
    assert_eq!(names(&roots(&doc)), [("settings", RootKind::Map)]);
    assert_eq!(
        to_json(&doc),
        json!({ "settings": {
            "title": "Quire",
            "count": 3,
            "ratio": 0.5,
            "enabled": true,
            "nothing": null,
            "bytes": [1, 2, 255],
            "plain": [1, "a"],
            "nested": { "inner": "value" },
            "list": [1, 2],
            "note": "typed",
        }})
    );
    assert_eq!(
        root_to_json(&doc, "settings").unwrap()["nested"],
        json!({ "inner": "value" })
    );
    assert_eq!(
        root_to_json(&doc, "other"),
        Err(ExportError::NoSuchRoot {
            name: "other".to_owned(),
            available: vec!["settings".to_owned()]
        })
    );
}

#[test]
fn received_array_of_strings_is_an_array_not_text() {
    let source = Doc::new();
    let array = source.get_or_insert_array("items");
    {
        let mut transaction = source.transact_mut();
        array.push_back(&mut transaction, "a");
        array.push_back(&mut transaction, "bc");
        array.push_back(&mut transaction, 7);
        array.push_back(&mut transaction, MapPrelim::from([("k", "v")]));
    }
    let doc = received(&source);
    assert_eq!(names(&roots(&doc)), [("items", RootKind::Array)]);
    assert_eq!(
        to_json(&doc),
        json!({ "items": ["a", "bc", 7, { "k": "v" }] })
    );
    assert_eq!(
        text(&doc, Some("items")),
        Err(ExportError::NotText {
            name: "items".to_owned(),
            kind: RootKind::Array
        })
    );
}

#[test]
fn received_xml_fragment_reads_as_its_string_form() {
    let source = Doc::new();
    let fragment = source.get_or_insert_xml_fragment("prosemirror");
    fragment.push_back(
        &mut source.transact_mut(),
        XmlElementPrelim::new("paragraph", [XmlTextPrelim::new("hello").into()]),
    );
    let doc = received(&source);
    assert_eq!(
        names(&roots(&doc)),
        [("prosemirror", RootKind::XmlFragment)]
    );
    assert_eq!(
        to_json(&doc),
        json!({ "prosemirror": "<paragraph>hello</paragraph>" })
    );
}

#[test]
fn empty_document_has_no_roots_and_no_text() {
    let doc = Doc::new();
    assert_eq!(roots(&doc), []);
    assert_eq!(to_json(&doc), json!({}));
    assert_eq!(
        text(&doc, None),
        Err(ExportError::NoText { roots: Vec::new() })
    );
    assert_eq!(
        text(&doc, None).unwrap_err().to_string(),
        "the document holds no root text (its roots: none)"
    );
}

#[test]
fn cleared_text_reads_as_empty() {
    let source = text_doc("content", "gone");
    {
        let text_root = source.get_or_insert_text("content");
        text_root.remove_range(&mut source.transact_mut(), 0, 4);
    }
    let doc = received(&source);
    assert_eq!(names(&roots(&doc)), [("content", RootKind::Empty)]);
    assert_eq!(text(&doc, None).unwrap(), "");
    assert_eq!(to_json(&doc), json!({ "content": [] }));
}

#[test]
fn text_without_a_name_needs_exactly_one_root_text() {
    let source = text_doc("b", "second");
    source
        .get_or_insert_text("a")
        .insert(&mut source.transact_mut(), 0, "first");
    source
        .get_or_insert_map("meta")
        .insert(&mut source.transact_mut(), "k", 1);
    let doc = received(&source);
    let error = text(&doc, None).unwrap_err();
    assert_eq!(
        error,
        ExportError::SeveralTexts {
            texts: vec!["a".to_owned(), "b".to_owned()]
        }
    );
    assert_eq!(
        error.to_string(),
        "the document holds several root texts (\"a\", \"b\"): name one"
    );
    assert_eq!(text(&doc, Some("a")).unwrap(), "first");
    assert_eq!(
        text(&doc, Some("missing")).unwrap_err().to_string(),
        "the document has no root named \"missing\" (its roots: \"a\", \"b\", \"meta\")"
    );
    assert_eq!(
        text(&doc, Some("meta")).unwrap_err().to_string(),
        "root \"meta\" is a map, not text"
    );
}

#[test]
fn updates_round_trip_in_both_encodings_and_since_leaves_out_what_is_known() {
    let doc = text_doc("content", "hello");
    let behind_v1 = received(&doc);
    let behind_v2 = received(&doc);
    let known = doc.transact().state_vector();
    doc.get_or_insert_text("content")
        .insert(&mut doc.transact_mut(), 5, " world");

    for update in [
        Update::decode_v1(&encode_update(&doc, None)).unwrap(),
        Update::decode_v2(&encode_update_v2(&doc, None)).unwrap(),
    ] {
        let copy = Doc::new();
        copy.transact_mut().apply_update(update).unwrap();
        assert_eq!(text(&copy, None).unwrap(), "hello world");
    }

    let missing_v1 = encode_update(&doc, Some(&known));
    let missing_v2 = encode_update_v2(&doc, Some(&known));
    assert!(missing_v1.len() < encode_update(&doc, None).len());
    behind_v1
        .transact_mut()
        .apply_update(Update::decode_v1(&missing_v1).unwrap())
        .unwrap();
    behind_v2
        .transact_mut()
        .apply_update(Update::decode_v2(&missing_v2).unwrap())
        .unwrap();
    assert_eq!(text(&behind_v1, None).unwrap(), "hello world");
    assert_eq!(text(&behind_v2, None).unwrap(), "hello world");
}

#[test]
fn state_vector_decodes_to_the_documents_own() {
    let doc = text_doc("content", "abc");
    let decoded = StateVector::decode_v1(&state_vector(&doc)).unwrap();
    assert_eq!(decoded, doc.transact().state_vector());
}

/// Types nested 50,000 deep (a client can make them at a few bytes a level) export as a marker,
/// not as a stack overflow that would abort the server.
#[test]
fn absurdly_nested_types_export_as_a_marker() {
    use yrs::{WriteTxn, XmlElementPrelim, XmlFragment};
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        transaction
            .get_or_insert_text("title")
            .insert(&mut transaction, 0, "kept");
        let fragment = transaction.get_or_insert_xml_fragment("deep");
        let mut parent = fragment.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        for _ in 0..50_000 {
            parent = parent.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        }
    }
    let json = to_json(&doc);
    assert_eq!(json["deep"], TOO_DEEP);
    assert_eq!(json["title"], "kept");
}
