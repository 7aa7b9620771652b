//! What the room does with updates yrs would take differently from Yjs, or only in part.

use yrs::{GetString, Transact};

use super::*;
use crate::crafted::{Link, deletion, item, update_of, write_item};
use crate::untrusted::DecodeError;
use crate::wire::encode_update_frame;

/// A room with one read-write connection, after it wrote client 1's "abc" into root text `a` and
/// client 2's "xyz" into root text `b`.
fn room_with_two_texts() -> (Room, ConnectionId) {
    let mut room = Room::new();
    let connection = room.handle_connect(Access::ReadWrite);
    for update in [
        item(1, 0, Link::Root("a"), "abc"),
        item(2, 0, Link::Root("b"), "xyz"),
    ] {
        room.handle_frame(connection, &encode_update_frame(&update))
            .expect("a plain insert is applied");
    }
    while room.poll_outgoing().is_some() {}
    (room, connection)
}

fn text(room: &Room, name: &str) -> String {
    let text = room.doc().get_or_insert_text(name);
    text.get_string(&room.doc().transact())
}

fn drain(room: &mut Room) -> Vec<Outgoing> {
    std::iter::from_fn(|| room.poll_outgoing()).collect()
}

#[test]
fn an_item_between_two_texts_is_refused_and_nothing_of_it_is_stored_or_sent() {
    let (mut room, connection) = room_with_two_texts();
    let between = item(3, 0, Link::Between((1, 1), (2, 1)), "!");
    let refused = room.handle_frame(connection, &encode_update_frame(&between));
    assert!(
        matches!(
            refused,
            Err(ProtocolError::Invalid(DecodeError::Inconsistent(_)))
        ),
        "{refused:?}"
    );
    assert_eq!(drain(&mut room), vec![]);
    assert_eq!(
        (text(&room, "a"), text(&room, "b")),
        ("abc".into(), "xyz".into())
    );
    // The room goes on taking ordinary edits, next to the same items.
    let after = item(3, 0, Link::Between((1, 1), (1, 2)), "!");
    room.handle_frame(connection, &encode_update_frame(&after))
        .expect("an insert between two letters of one text is applied");
    assert_eq!(text(&room, "a"), "ab!c");
}

#[test]
fn overlapping_deleted_ranges_are_refused() {
    // yrs deletes what two ranges cover twice, and its length of the text underflows.
    let (mut room, connection) = room_with_two_texts();
    let overlapping = deletion(1, &[(1, 2), (0, 2)]);
    let refused = room.handle_frame(connection, &encode_update_frame(&overlapping));
    assert!(
        matches!(refused, Err(ProtocolError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(text(&room, "a"), "abc");
    let sorted = deletion(1, &[(0, 1), (1, 1)]);
    room.handle_frame(connection, &encode_update_frame(&sorted))
        .expect("sorted ranges, even touching, are applied");
    assert_eq!(text(&room, "a"), "c");
}

#[test]
fn what_yrs_applied_of_an_update_it_then_refused_is_stored_and_sent() {
    // yrs integrates an update client by client (the highest id first) and stops at an item whose
    // parent is not a type: client 9's item is in the document by then.
    let (mut room, connection) = room_with_two_texts();
    let observer = room.handle_connect(Access::ReadWrite);
    let mut valid = Vec::new();
    write_item(&mut valid, Link::After((1, 2)), "def");
    let mut invalid = Vec::new();
    write_item(&mut invalid, Link::Nested((2, 0)), "?");
    let update = update_of(&[(9, 0, vec![valid]), (3, 0, vec![invalid])]);
    let refused = room.handle_frame(connection, &encode_update_frame(&update));
    assert!(
        matches!(refused, Err(ProtocolError::UpdateRejected(_))),
        "{refused:?}"
    );
    assert_eq!(text(&room, "a"), "abcdef", "yrs kept what it integrated");
    let outgoing = drain(&mut room);
    let stored: Vec<&Bytes> = outgoing
        .iter()
        .filter_map(|effect| match effect {
            Outgoing::Persist { update } => Some(update),
            _ => None,
        })
        .collect();
    assert_eq!(stored.len(), 1, "{outgoing:?}");
    assert!(
        outgoing
            .iter()
            .any(|effect| matches!(effect, Outgoing::Broadcast { except: None, .. }))
    );
    // What was stored and sent is exactly what the document gained.
    let copy = Room::new();
    for update in [
        item(1, 0, Link::Root("a"), "abc"),
        item(2, 0, Link::Root("b"), "xyz"),
        stored[0].to_vec(),
    ] {
        copy.doc()
            .transact_mut()
            .apply_update(crate::pending::decode_update(&update).unwrap())
            .unwrap();
    }
    assert_eq!(copy.state_vector(), room.state_vector());
    assert_eq!(text(&copy, "a"), "abcdef");
    let _ = observer;
}

#[test]
fn an_update_repeating_clocks_the_room_had_is_sent_on_as_only_what_was_new() {
    // Relayed as it came, each client would integrate the overlap itself, and Yjs throws doing
    // that next to garbage-collected content.
    let (mut room, connection) = room_with_two_texts();
    let repeat = item(1, 1, Link::After((1, 0)), "bcdef");
    room.handle_frame(connection, &encode_update_frame(&repeat))
        .expect("a repeat that goes on is applied");
    assert_eq!(text(&room, "a"), "abcdef");
    let sent: Vec<Bytes> = drain(&mut room)
        .into_iter()
        .filter_map(|effect| match effect {
            Outgoing::Broadcast { frame, .. } => Some(frame),
            _ => None,
        })
        .collect();
    let [frame] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    let messages = crate::wire::decode_frame(frame).unwrap();
    let [Message::Sync(SyncMessage::Update(update))] = messages.as_slice() else {
        panic!("{messages:?}");
    };
    let shape = crate::untrusted::update_v1_shape(update).unwrap();
    let blocks: Vec<(u64, u32, u32)> = shape
        .blocks()
        .iter()
        .map(|block| (block.client, block.start, block.end))
        .collect();
    assert_eq!(blocks, [(1, 3, 6)], "only the three new clocks");
}

#[test]
fn a_frame_changes_the_document_only_when_it_brings_something_new() {
    let (room, _) = room_with_two_texts();
    let held = encode_update_frame(&item(1, 0, Link::Root("a"), "abc"));
    assert!(!room.frame_changes_document(&held));
    let deletion = encode_update_frame(&deletion(1, &[(0, 1)]));
    assert!(room.frame_changes_document(&deletion));
    let new = encode_update_frame(&item(1, 3, Link::After((1, 2)), "d"));
    assert!(room.frame_changes_document(&new));
    let awareness = encode_frame(&Message::AwarenessQuery);
    assert!(!room.frame_changes_document(&awareness));
}
