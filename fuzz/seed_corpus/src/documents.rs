//! Small Yjs documents holding every kind of content Yjs encodes, edited the way clients edit
//! them, so their updates exercise every branch of the update decoders.
//!
//! Client ids and sub-document guids are fixed, so regenerating the seeds gives the same content.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::updates::encoder::Encode;
use yrs::{
    Any, Array, ArrayPrelim, ClientID, Doc, Map, MapPrelim, OffsetKind, Options, ReadTxn,
    StateVector, Text, TextPrelim, Transact, Xml, XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

/// What the seeds take from one document.
pub struct Encodings {
    /// The whole document, v1 and v2.
    pub whole_v1: Vec<u8>,
    pub whole_v2: Vec<u8>,
    /// The last edit alone, as a client broadcasts it (v1).
    pub last_edit: Vec<u8>,
    /// The document's state vector (v1).
    pub state_vector: Vec<u8>,
}

/// A named sample document and its encodings.
pub fn samples() -> Vec<(&'static str, Encodings)> {
    vec![
        ("text", encodings(text_document)),
        ("map", encodings(map_document)),
        ("array", encodings(array_document)),
        ("xml", encodings(xml_document)),
        ("subdocument", encodings(subdocument_document)),
        ("two-clients", two_clients()),
    ]
}

fn document(client: u64) -> Doc {
    Doc::with_options(Options {
        offset_kind: OffsetKind::Utf16,
        ..Options::with_client_id(ClientID::new(client))
    })
}

/// Builds a document with `edit`, which runs its own transactions; the last of them is the
/// "last edit".
fn encodings(edit: fn(&Doc)) -> Encodings {
    let doc = document(7);
    edit(&doc);
    let before_last = doc.transact().state_vector();
    doc.get_or_insert_text("t")
        .insert(&mut doc.transact_mut(), 0, "!");
    encode(&doc, &before_last)
}

fn encode(doc: &Doc, before_last: &StateVector) -> Encodings {
    let transaction = doc.transact();
    Encodings {
        whole_v1: transaction.encode_state_as_update_v1(&StateVector::default()),
        whole_v2: transaction.encode_state_as_update_v2(&StateVector::default()),
        last_edit: transaction.encode_state_as_update_v1(before_last),
        state_vector: transaction.state_vector().encode_v1(),
    }
}

fn text_document(doc: &Doc) {
    let text = doc.get_or_insert_text("t");
    text.insert(&mut doc.transact_mut(), 0, "hello wörld 😀");
    text.insert(&mut doc.transact_mut(), 5, ",");
    let bold = HashMap::from([(Arc::from("bold"), Any::Bool(true))]);
    text.format(&mut doc.transact_mut(), 0, 5, bold);
    let image = Any::from(HashMap::from([("image".to_owned(), Any::from("a.png"))]));
    text.insert_embed(&mut doc.transact_mut(), 3, image);
    text.remove_range(&mut doc.transact_mut(), 7, 3);
}

fn map_document(doc: &Doc) {
    let map = doc.get_or_insert_map("m");
    let mut transaction = doc.transact_mut();
    map.insert(&mut transaction, "integer", -42_i64);
    map.insert(&mut transaction, "float", 1.5_f64);
    map.insert(&mut transaction, "big", Any::from(1_i64 << 60));
    map.insert(&mut transaction, "string", "value");
    map.insert(&mut transaction, "flag", true);
    map.insert(&mut transaction, "nothing", Any::Null);
    map.insert(&mut transaction, "undefined", Any::Undefined);
    map.insert(&mut transaction, "bytes", vec![0_u8, 1, 255]);
    let nested = Any::from(HashMap::from([(
        "list".to_owned(),
        Any::from(vec![Any::from(1_i64), Any::from("two"), Any::Null]),
    )]));
    map.insert(&mut transaction, "nested", nested);
    map.insert(
        &mut transaction,
        "shared-map",
        MapPrelim::from([("inner", Any::from(3_i64))]),
    );
    map.insert(
        &mut transaction,
        "shared-text",
        TextPrelim::new("inner text"),
    );
    drop(transaction);
    // Overwriting leaves a deleted item behind.
    map.insert(&mut doc.transact_mut(), "string", "second value");
    map.remove(&mut doc.transact_mut(), "flag");
}

fn array_document(doc: &Doc) {
    let array = doc.get_or_insert_array("a");
    array.insert_range(&mut doc.transact_mut(), 0, [1_i64, 2, 3]);
    array.push_back(&mut doc.transact_mut(), "four");
    array.push_back(
        &mut doc.transact_mut(),
        ArrayPrelim::from([Any::from(true), Any::from(5.5_f64)]),
    );
    array.remove_range(&mut doc.transact_mut(), 1, 1);
}

fn xml_document(doc: &Doc) {
    let fragment = doc.get_or_insert_xml_fragment("x");
    let mut transaction = doc.transact_mut();
    let paragraph = fragment.push_back(&mut transaction, XmlElementPrelim::empty("p"));
    paragraph.insert_attribute(&mut transaction, "class", "lead");
    paragraph.push_back(&mut transaction, XmlTextPrelim::new("some text"));
    let list = fragment.push_back(&mut transaction, XmlElementPrelim::empty("ul"));
    list.push_back(&mut transaction, XmlElementPrelim::empty("li"));
}

fn subdocument_document(doc: &Doc) {
    let subdocument = Doc::with_options(Options {
        guid: "2f9b1c3e-6a4d-4e8f-9b0a-1c2d3e4f5a6b".into(),
        ..Options::with_client_id(ClientID::new(8))
    });
    doc.get_or_insert_map("m")
        .insert(&mut doc.transact_mut(), "child", subdocument);
}

/// Two clients editing one text concurrently, one deleting the other's insertion: an update of
/// several clients and a delete set naming another client.
fn two_clients() -> Encodings {
    let first = document(1);
    let second = document(2);
    let text_one = first.get_or_insert_text("t");
    let text_two = second.get_or_insert_text("t");
    text_one.insert(&mut first.transact_mut(), 0, "shared start");
    exchange(&first, &second);
    text_one.insert(&mut first.transact_mut(), 0, "one ");
    text_two.insert(&mut second.transact_mut(), 6, " two");
    exchange(&first, &second);
    let before_last = first.transact().state_vector();
    text_one.remove_range(&mut first.transact_mut(), 0, 8);
    encode(&first, &before_last)
}

fn exchange(first: &Doc, second: &Doc) {
    for (from, to) in [(first, second), (second, first)] {
        let missing = from
            .transact()
            .encode_state_as_update_v1(&to.transact().state_vector());
        let update = yrs::updates::decoder::Decode::decode_v1(&missing).expect("yrs's update");
        to.transact_mut()
            .apply_update(update)
            .expect("applies to a replica");
    }
}
