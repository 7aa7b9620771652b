//! `restore::restore_into` on its own, the pure function over two yrs documents: under both
//! offset kinds and across root kinds; and (through a room) on roots a hostile client filled
//! with mixed content.

mod restore_support;

use crdt_core::Room;
use crdt_core::export::to_json;
use crdt_core::restore::restore_into;
use restore_support::{apply, assert_content_equals, authored, edited, received, state_of};
use serde_json::json;
use yrs::{Array, Doc, OffsetKind, Options, Text, Transact, XmlElementPrelim, XmlFragment};

/// `restore_into` counts text offsets in the document's own unit: run the whole round trip on
/// documents that count UTF-16 code units as well as on ones that count UTF-8 bytes.
#[test]
fn restore_into_is_correct_for_both_offset_kinds() {
    for offset_kind in [OffsetKind::Bytes, OffsetKind::Utf16] {
        let options = || Options {
            offset_kind,
            ..Options::default()
        };
        let version_state = state_of(&authored(options()));
        let edits = edited(&version_state, options());
        let current = Doc::with_options(options());
        apply(&current, &version_state);
        apply(&current, &edits);
        let version = Doc::with_options(options());
        apply(&version, &version_state);

        let update = {
            let mut txn = current.transact_mut();
            restore_into(&mut txn, &version);
            assert!(txn.has_changes(), "{offset_kind:?}");
            txn.encode_update_v1()
        };
        let observer = received(&version_state);
        apply(&observer, &edits);
        apply(&observer, &update);
        assert_content_equals(&observer, &received(&version_state));
        assert_content_equals(&received(&state_of(&current)), &received(&version_state));
    }
}

/// A root the version holds as another kind is emptied and refilled as the version's kind.
#[test]
fn a_root_of_another_kind_is_replaced() {
    let version = Doc::new();
    version
        .get_or_insert_text("x")
        .push(&mut version.transact_mut(), "abc");
    let current = Doc::new();
    {
        let list = current.get_or_insert_array("x");
        let mut txn = current.transact_mut();
        list.push_back(&mut txn, 1);
        list.push_back(&mut txn, 2);
    }
    let current = received(&state_of(&current));
    let version = received(&state_of(&version));
    {
        let mut txn = current.transact_mut();
        restore_into(&mut txn, &version);
    }
    assert_eq!(to_json(&received(&state_of(&current))), json!({"x": "abc"}));
}

/// A hostile client can put items of several kinds in one root. Restoring from or into such a
/// root must neither panic nor leave the room unlike the version.
#[test]
fn roots_with_mixed_content_are_restored_without_panicking() {
    let mixed = Doc::new();
    {
        let text = mixed.get_or_insert_text("x");
        let fragment = mixed.get_or_insert_xml_fragment("y");
        let mut txn = mixed.transact_mut();
        text.push(&mut txn, "héllo");
        fragment.push_back(&mut txn, XmlElementPrelim::empty("p"));
    }
    {
        // The same branches, reached as arrays, get array values too.
        let text_as_array = mixed.get_or_insert_array("x");
        let fragment_as_array = mixed.get_or_insert_array("y");
        let mut txn = mixed.transact_mut();
        text_as_array.insert(&mut txn, 2, 42);
        fragment_as_array.insert(&mut txn, 0, "stray");
    }
    let mixed_state = state_of(&mixed);
    let clean = Doc::new();
    clean
        .get_or_insert_text("x")
        .push(&mut clean.transact_mut(), "plain");
    let clean_state = state_of(&clean);

    for (from, to) in [(&mixed_state, &clean_state), (&clean_state, &mixed_state)] {
        let mut room = Room::new();
        room.handle_stored_update(from).unwrap();
        room.handle_restore(to).unwrap();
        let room_content = to_json(&received(&room.encode_state_as_update()));
        let version_content = to_json(&received(to));
        for (name, value) in version_content.as_object().unwrap() {
            assert_eq!(&room_content[name], value, "root {name:?}");
        }
        assert!(
            !room.handle_restore(to).unwrap(),
            "a second restore is a no-op"
        );
    }
}
