//! `Room::handle_restore`: the room's content becomes a version's through new edits that every
//! client can apply and merge with its own.
//!
//! Documents are built on client `Doc`s with typed roots and reach the room as updates, so the
//! room (like a real server) sees every root undefined. What the room sends is checked on a
//! separate client `Doc` that only ever applies the room's broadcasts, compared through the
//! export's JSON reading plus the formatting of the texts.

mod restore_support;

use crdt_core::export::to_json;
use crdt_core::wire::decode_frame;
use crdt_core::{Outgoing, ProtocolError, Room};
use restore_support::{
    apply, assert_content_equals, authored, edited, formatting, heading_level, received, state_of,
};
use serde_json::json;
use yrs::sync::{Message, SyncMessage};
use yrs::{Any, Doc, GetString, Map, Observable, Options, Out, ReadTxn, Text, Transact};

fn drain(room: &mut Room) -> Vec<Outgoing> {
    std::iter::from_fn(|| room.poll_outgoing()).collect()
}

/// The update of a restore's effects: a Persist, then the same update broadcast to everyone.
fn restore_update(effects: &[Outgoing]) -> Vec<u8> {
    let [
        Outgoing::Persist { update },
        Outgoing::Broadcast {
            except: None,
            frame,
        },
    ] = effects
    else {
        panic!("expected Persist then Broadcast to all, got {effects:?}");
    };
    let messages = decode_frame(frame).unwrap();
    let [Message::Sync(SyncMessage::Update(broadcast))] = messages.as_slice() else {
        panic!("broadcast is not one sync update");
    };
    assert_eq!(broadcast.as_slice(), update.as_ref());
    update.to_vec()
}

/// A room that holds the author's document and then the edits; returns it with the version.
fn room_with_edited_document() -> (Room, Vec<u8>) {
    let mut room = Room::new();
    room.handle_stored_update(&state_of(&authored(Options::default())))
        .unwrap();
    let version = room.encode_state_as_update();
    let edits = edited(&version, Options::default());
    assert!(room.handle_local_update(&edits).unwrap());
    drain(&mut room);
    (room, version)
}

#[test]
fn restore_makes_every_root_equal_the_version_for_clients_and_the_room() {
    let (mut room, version) = room_with_edited_document();
    let observer = received(&room.encode_state_as_update());
    assert_ne!(to_json(&observer), to_json(&received(&version)));
    assert_ne!(formatting(&observer), formatting(&received(&version)));

    assert!(room.handle_restore(&version).unwrap());
    let update = restore_update(&drain(&mut room));
    apply(&observer, &update);

    let version_doc = received(&version);
    assert_content_equals(&observer, &version_doc);
    assert_content_equals(&received(&room.encode_state_as_update()), &version_doc);
    assert_eq!(heading_level(&observer), heading_level(&version_doc));
    assert_eq!(heading_level(&observer), Some(Out::Any(Any::from(1))));
    // History is kept, nothing is rewound: the room still holds everything the version and the
    // edits wrote, plus the restore's own new edits.
    let room_state = room.state_vector();
    let version_state = received(&version).transact().state_vector();
    assert!(
        version_state
            .iter()
            .all(|(client, clock)| room_state.get(client) >= *clock)
    );
    assert_ne!(room_state, version_state);
}

#[test]
fn restoring_what_the_document_holds_changes_nothing() {
    let (mut room, version) = room_with_edited_document();
    let current = room.encode_state_as_update();
    assert!(!room.handle_restore(&current).unwrap());
    assert_eq!(drain(&mut room), []);

    assert!(room.handle_restore(&version).unwrap());
    drain(&mut room);
    assert!(!room.handle_restore(&version).unwrap(), "second restore");
    assert_eq!(drain(&mut room), []);
}

#[test]
fn a_concurrent_edit_merges_with_the_restore() {
    let (mut room, version) = room_with_edited_document();
    let client = received(&room.encode_state_as_update());
    let before = client.transact().state_vector();
    {
        let body = client.get_or_insert_text("body");
        let meta = client.get_or_insert_map("meta");
        let mut txn = client.transact_mut();
        body.insert(&mut txn, 0, "[A] ");
        meta.insert(&mut txn, "by-a", true);
    }
    let concurrent = client.transact().encode_state_as_update_v1(&before);

    // The room restores before the client's edit arrives; each then applies the other's.
    assert!(room.handle_restore(&version).unwrap());
    apply(&client, &restore_update(&drain(&mut room)));
    assert!(room.handle_local_update(&concurrent).unwrap());

    let room_doc = received(&room.encode_state_as_update());
    assert_eq!(to_json(&room_doc), to_json(&received(&state_of(&client))));
    let content = to_json(&room_doc);
    let wanted = to_json(&received(&version));
    assert_eq!(
        content["body"],
        json!(format!("[A] {}", wanted["body"].as_str().unwrap()))
    );
    assert_eq!(content["meta"]["by-a"], json!(true));
    assert_eq!(content["meta"]["title"], wanted["meta"]["title"]);
    assert_eq!(content["list"], wanted["list"]);
}

#[test]
fn an_empty_room_gets_every_root_and_an_empty_version_empties_them() {
    let version = state_of(&authored(Options::default()));
    let mut room = Room::new();
    assert!(room.handle_restore(&version).unwrap());
    let observer = received(&restore_update(&drain(&mut room)));
    assert_content_equals(&observer, &received(&version));

    assert!(room.handle_restore(&state_of(&Doc::new())).unwrap());
    apply(&observer, &restore_update(&drain(&mut room)));
    for (name, value) in to_json(&observer).as_object().unwrap() {
        assert!(
            value == &json!([]) || value == &json!("") || value == &json!({}),
            "root {name:?} is {value}"
        );
    }
}

#[test]
fn an_update_that_does_not_decode_is_refused_and_changes_nothing() {
    let (mut room, _) = room_with_edited_document();
    let before = room.encode_state_as_update();
    let error = room.handle_restore(&[0xff, 0xff, 0xff]).unwrap_err();
    assert!(
        matches!(
            error,
            ProtocolError::MalformedUpdate(_) | ProtocolError::UndecodableUpdate
        ),
        "{error:?}"
    );
    assert_eq!(drain(&mut room), []);
    assert_eq!(room.encode_state_as_update(), before);
}

/// A changed nested map is restored in place, so a concurrent edit to one of its other keys
/// survives instead of vanishing with a replaced map.
#[test]
fn nested_maps_are_restored_in_place() {
    let (mut room, version) = room_with_edited_document();
    let client = received(&room.encode_state_as_update());
    let before = client.transact().state_vector();
    {
        let meta = client.get_or_insert_map("meta");
        let mut txn = client.transact_mut();
        let Some(Out::YMap(owner)) = meta.get(&txn, "owner") else {
            panic!("owner is a map");
        };
        owner.insert(&mut txn, "email", "ada@example.com");
    }
    let concurrent = client.transact().encode_state_as_update_v1(&before);
    assert!(room.handle_restore(&version).unwrap());
    drain(&mut room);
    room.handle_local_update(&concurrent).unwrap();
    let content = to_json(&received(&room.encode_state_as_update()));
    assert_eq!(
        content["meta"]["owner"],
        json!({"name": "Ada", "email": "ada@example.com"})
    );
}

/// Only the changed middle of a text is rewritten, counted in the room's UTF-8 byte offsets.
#[test]
fn a_text_restore_rewrites_only_the_changed_middle() {
    let text_doc = |content: &str| {
        let doc = Doc::new();
        doc.get_or_insert_text("body")
            .push(&mut doc.transact_mut(), content);
        doc
    };
    let mut room = Room::new();
    room.handle_stored_update(&state_of(&text_doc("héllo brown 日本")))
        .unwrap();
    let version = room.encode_state_as_update();
    let client = received(&version);
    let before = client.transact().state_vector();
    {
        let body = client.get_or_insert_text("body");
        let mut txn = client.transact_mut();
        body.remove_range(&mut txn, 7, 5);
        body.insert(&mut txn, 7, "red");
    }
    room.handle_local_update(&client.transact().encode_state_as_update_v1(&before))
        .unwrap();
    drain(&mut room);

    let observer = received(&room.encode_state_as_update());
    let body = observer.get_or_insert_text("body");
    let deltas = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = deltas.clone();
    body.observe("restore-test", move |txn, event| {
        seen.lock()
            .unwrap()
            .extend(event.delta(txn).iter().cloned());
    });
    assert!(room.handle_restore(&version).unwrap());
    apply(&observer, &restore_update(&drain(&mut room)));

    assert_eq!(body.get_string(&observer.transact()), "héllo brown 日本");
    let deltas = deltas.lock().unwrap();
    let inserted: String = deltas
        .iter()
        .filter_map(|delta| match delta {
            yrs::types::Delta::Inserted(Out::Any(Any::String(text)), _) => Some(text.to_string()),
            _ => None,
        })
        .collect();
    let deleted: u32 = deltas
        .iter()
        .map(|delta| match delta {
            yrs::types::Delta::Deleted(length) => *length,
            _ => 0,
        })
        .sum();
    assert_eq!((inserted.as_str(), deleted), ("brown", 3), "{deltas:?}");
    assert!(
        matches!(deltas.first(), Some(yrs::types::Delta::Retain(7, None))),
        "the shared prefix \"héllo \" (7 bytes) is kept: {deltas:?}"
    );
}

/// Elements nested `depth` deep in fragment `deep`, beside a text `title`.
fn deeply_nested(depth: usize) -> Doc {
    use yrs::{WriteTxn, XmlElementPrelim, XmlFragment};
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        transaction
            .get_or_insert_text("title")
            .insert(&mut transaction, 0, "kept");
        let fragment = transaction.get_or_insert_xml_fragment("deep");
        let mut parent = fragment.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        for _ in 0..depth {
            parent = parent.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        }
    }
    doc
}

/// A version (or a document) nesting shared types 50,000 deep is refused, not walked: restoring
/// recurses per level, and a stack overflow would abort the whole server. Nothing changes.
#[test]
fn restoring_absurdly_nested_types_is_refused_and_changes_nothing() {
    let deep = state_of(&deeply_nested(50_000));
    let mut room = Room::new();
    let refused = room.handle_restore(&deep).unwrap_err();
    assert!(
        matches!(refused, ProtocolError::TooDeep { limit: 128 }),
        "{refused:?}"
    );
    assert!(drain(&mut room).is_empty());
    assert_eq!(to_json(room.doc()), json!({}));

    // The same the other way round: the room holds the deep document, the version is plain.
    let mut room = Room::new();
    let connection = room.handle_connect(crdt_core::Access::ReadWrite);
    room.handle_frame(connection, &crdt_core::wire::encode_update_frame(&deep))
        .expect("the room takes the deep update");
    drain(&mut room);
    let refused = room.handle_restore(&state_of(&Doc::new())).unwrap_err();
    assert!(
        matches!(refused, ProtocolError::TooDeep { .. }),
        "{refused:?}"
    );
    assert!(drain(&mut room).is_empty());
}

/// Nesting hidden where XML children are not looked for is measured too: behind a plain value
/// that comes first among an element's children, and inside an element's attribute.
#[test]
fn nesting_behind_a_plain_first_child_or_in_an_attribute_is_refused_too() {
    use yrs::branch::BranchPtr;
    use yrs::{Array, ArrayRef, MapPrelim, MapRef, WriteTxn, XmlElementPrelim, XmlFragment};
    let behind_a_value = Doc::new();
    {
        let mut transaction = behind_a_value.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("deep");
        let element = fragment.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        let children = ArrayRef::from(BranchPtr::from(AsRef::<yrs::branch::Branch>::as_ref(
            &element,
        )));
        children.push_back(&mut transaction, "a plain value first");
        let mut parent = children.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        for _ in 0..50_000 {
            parent = parent.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        }
    }
    let in_an_attribute = Doc::new();
    {
        let mut transaction = in_an_attribute.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("deep");
        let element = fragment.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        let attributes = MapRef::from(BranchPtr::from(AsRef::<yrs::branch::Branch>::as_ref(
            &element,
        )));
        let mut map = attributes.insert(&mut transaction, "data", MapPrelim::default());
        for _ in 0..50_000 {
            map = map.insert(&mut transaction, "data", MapPrelim::default());
        }
    }
    for deep in [behind_a_value, in_an_attribute] {
        let mut room = Room::new();
        let refused = room.handle_restore(&state_of(&deep)).unwrap_err();
        assert!(
            matches!(refused, ProtocolError::TooDeep { .. }),
            "{refused:?}"
        );
        assert!(drain(&mut room).is_empty());
    }
}
