//! The whole-document SyncStep2 a joining client with an empty state vector is sent: encoded once
//! and shared, yet always what a fresh encoding of the document gives, whatever changed it.

use bytes::Bytes;
use crdt_core::wire::encode_frame;
use crdt_core::{Access, ConnectionId, Outgoing, Room};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, TransactionMut};

/// What a room must send a client that has nothing, encoded from scratch.
fn fresh_full_state_frame(room: &Room) -> Bytes {
    let update = room
        .doc()
        .transact()
        .encode_diff_v1(&StateVector::default());
    encode_frame(&Message::Sync(SyncMessage::SyncStep2(update)))
}

fn sync_frame(message: SyncMessage) -> Bytes {
    encode_frame(&Message::Sync(message))
}

/// Joins a client with an empty state vector; the SyncStep2 frame it is sent.
fn join_empty(room: &mut Room) -> (ConnectionId, Bytes) {
    let connection = room.handle_connect(Access::ReadWrite);
    room.handle_frame(
        connection,
        &sync_frame(SyncMessage::SyncStep1(StateVector::default())),
    )
    .unwrap();
    let effects: Vec<Outgoing> = std::iter::from_fn(|| room.poll_outgoing()).collect();
    let step2 = effects
        .into_iter()
        .find_map(|effect| match effect {
            Outgoing::Reply { to, frame } if to == connection && frame[..2] == [0, 1] => {
                Some(frame)
            }
            _ => None,
        })
        .expect("a SyncStep2 reply");
    (connection, step2)
}

/// An edit on a client document, as the update it made.
fn edit(doc: &Doc, change: impl FnOnce(&mut TransactionMut)) -> Vec<u8> {
    let mut transaction = doc.transact_mut();
    change(&mut transaction);
    transaction.encode_update_v1()
}

fn same_bytes(left: &Bytes, right: &Bytes) -> bool {
    left.as_ptr() == right.as_ptr() && left.len() == right.len()
}

/// Every joiner with an empty state vector gets the one shared encoding, equal to a fresh one.
#[test]
fn joiners_with_empty_state_share_one_encoding_of_the_document() {
    let writer = Doc::with_client_id(1);
    let text = writer.get_or_insert_text("text");
    let mut room = Room::new();
    room.handle_stored_update(&edit(&writer, |txn| text.insert(txn, 0, "hello world")))
        .unwrap();

    let (_, first) = join_empty(&mut room);
    let (_, second) = join_empty(&mut room);
    assert_eq!(first, fresh_full_state_frame(&room));
    assert!(same_bytes(&first, &second), "the second joiner re-encoded");
    assert!(same_bytes(&first, &room.full_state_frame()));
}

/// A client repeating what the room holds (its SyncStep2 after the sync) keeps the encoding;
/// an insert, a delete, a server-side update and a restore each replace it with the new document.
#[test]
fn the_encoding_is_kept_through_no_op_resyncs_and_replaced_on_every_change() {
    let writer = Doc::with_client_id(1);
    let text = writer.get_or_insert_text("text");
    let mut room = Room::new();
    let first_words = edit(&writer, |txn| text.insert(txn, 0, "hello world"));
    room.handle_stored_update(&first_words).unwrap();
    let version = room.encode_state_as_update();
    let (connection, before) = join_empty(&mut room);

    let everything = writer
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    room.handle_frame(connection, &sync_frame(SyncMessage::SyncStep2(everything)))
        .unwrap();
    assert!(same_bytes(&before, &room.full_state_frame()));

    let check_replaced = |room: &mut Room, what: &str, previous: &mut Bytes| {
        let (_, now) = join_empty(room);
        assert_ne!(&now, previous, "{what}: the joiner got the old document");
        assert_eq!(now, fresh_full_state_frame(room), "{what}");
        *previous = now;
    };
    let mut previous = before;

    let insert = edit(&writer, |txn| text.insert(txn, 5, ","));
    room.handle_frame(connection, &sync_frame(SyncMessage::Update(insert)))
        .unwrap();
    check_replaced(&mut room, "insert", &mut previous);

    let delete = edit(&writer, |txn| text.remove_range(txn, 0, 6));
    room.handle_frame(connection, &sync_frame(SyncMessage::Update(delete)))
        .unwrap();
    check_replaced(&mut room, "delete", &mut previous);

    let server_side = Doc::with_client_id(2);
    let settings = server_side.get_or_insert_map("settings");
    let local = edit(&server_side, |txn| {
        settings.insert(txn, "theme", "dark");
    });
    assert!(room.handle_local_update(&local).unwrap());
    check_replaced(&mut room, "server-side update", &mut previous);

    assert!(room.handle_restore(&version).unwrap());
    check_replaced(&mut room, "restore", &mut previous);
    let client = Doc::new();
    let messages = crdt_core::wire::decode_frame(&previous).unwrap();
    let [Message::Sync(SyncMessage::SyncStep2(update))] = messages.as_slice() else {
        panic!("not one SyncStep2: {messages:?}");
    };
    client
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(update).unwrap())
        .unwrap();
    let restored = client.get_or_insert_text("text");
    assert_eq!(restored.get_string(&client.transact()), "hello world");
}

/// An update waiting for a missing one changes nothing a joiner can be sent; once the missing
/// update arrives both are in the encoding.
#[test]
fn a_pending_update_keeps_the_encoding_until_its_dependency_arrives() {
    let writer = Doc::with_client_id(7);
    let text = writer.get_or_insert_text("text");
    let first = edit(&writer, |txn| text.insert(txn, 0, "ab"));
    let second = edit(&writer, |txn| text.insert(txn, 2, "cd"));
    let mut room = Room::new();
    let connection = room.handle_connect(Access::ReadWrite);
    let before = room.full_state_frame();

    room.handle_frame(connection, &sync_frame(SyncMessage::Update(second)))
        .unwrap();
    assert_eq!(room.full_state_frame(), fresh_full_state_frame(&room));
    assert_eq!(room.full_state_frame(), before);

    room.handle_frame(connection, &sync_frame(SyncMessage::Update(first)))
        .unwrap();
    let after = room.full_state_frame();
    assert_eq!(after, fresh_full_state_frame(&room));
    assert_ne!(after, before);
}

/// The document a full-state frame gives a client that had nothing, encoded afresh.
fn document_of_frame(frame: &[u8]) -> Bytes {
    let messages = crdt_core::wire::decode_frame(frame).unwrap();
    let [Message::Sync(SyncMessage::SyncStep2(update))] = messages.as_slice() else {
        panic!("not one SyncStep2: {messages:?}");
    };
    let mut client = Room::new();
    client.handle_stored_update(update).unwrap();
    fresh_full_state_frame(&client)
}

/// A room loaded from a snapshot sends the snapshot as stored (no re-encoding), which gives a
/// client exactly the room's document; the first change replaces it with a fresh encoding.
#[test]
fn a_room_loaded_from_a_snapshot_sends_the_snapshot_until_it_changes() {
    let writer = Doc::with_client_id(3);
    let text = writer.get_or_insert_text("text");
    edit(&writer, |txn| text.insert(txn, 0, "stored words"));
    edit(&writer, |txn| text.remove_range(txn, 0, 7));
    let snapshot = writer
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let stored_frame = sync_frame(SyncMessage::SyncStep2(snapshot.clone()));

    let mut room = Room::new();
    room.handle_stored_snapshot(&snapshot).unwrap();
    let (connection, first) = join_empty(&mut room);
    assert_eq!(first, stored_frame);
    assert_eq!(document_of_frame(&first), fresh_full_state_frame(&room));

    let more = edit(&writer, |txn| text.insert(txn, 0, "more "));
    room.handle_frame(connection, &sync_frame(SyncMessage::Update(more)))
        .unwrap();
    let (_, after) = join_empty(&mut room);
    assert_eq!(after, fresh_full_state_frame(&room));
    assert_ne!(after, stored_frame);
}

/// A snapshot applied to a room that already holds something is not the whole document, so it
/// is never what a joiner is sent.
#[test]
fn a_snapshot_into_a_room_that_holds_something_is_an_ordinary_update() {
    let first = Doc::with_client_id(4);
    let first_text = first.get_or_insert_text("text");
    let earlier = edit(&first, |txn| first_text.insert(txn, 0, "earlier"));
    let second = Doc::with_client_id(5);
    let second_text = second.get_or_insert_text("text");
    let snapshot = edit(&second, |txn| second_text.insert(txn, 0, "later"));

    let mut room = Room::new();
    room.handle_stored_update(&earlier).unwrap();
    room.handle_stored_snapshot(&snapshot).unwrap();
    assert_eq!(room.full_state_frame(), fresh_full_state_frame(&room));
    assert_ne!(
        room.full_state_frame(),
        sync_frame(SyncMessage::SyncStep2(snapshot))
    );
}

/// One thing that happens to the room between joins.
#[derive(Debug, Clone)]
enum Step {
    Insert {
        writer: Index,
        at: Index,
        text: String,
    },
    Delete {
        writer: Index,
        at: Index,
        len: u32,
    },
    SetKey {
        writer: Index,
        key: u8,
        value: i64,
    },
    /// A writer's full state sent as SyncStep2: usually nothing new.
    Resync {
        writer: Index,
    },
    /// The document as it is now, to restore later.
    TakeVersion,
    Restore {
        version: Index,
    },
    Join,
}

fn step() -> impl Strategy<Value = Step> {
    let writer = any::<Index>();
    prop_oneof![
        3 => (writer.clone(), any::<Index>(), "[a-z]{1,4}")
            .prop_map(|(writer, at, text)| Step::Insert { writer, at, text }),
        2 => (writer.clone(), any::<Index>(), 1..4u32)
            .prop_map(|(writer, at, len)| Step::Delete { writer, at, len }),
        1 => (writer.clone(), 0..3u8, any::<i64>())
            .prop_map(|(writer, key, value)| Step::SetKey { writer, key, value }),
        2 => writer.prop_map(|writer| Step::Resync { writer }),
        1 => Just(Step::TakeVersion),
        1 => any::<Index>().prop_map(|version| Step::Restore { version }),
        3 => Just(Step::Join),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever inserts, deletes, resyncs and restores happen, a joiner's SyncStep2 and
    /// `full_state_frame` are byte for byte a fresh encoding of the document, except for the
    /// snapshot the room was loaded from, which gives a client the same document.
    #[test]
    fn the_shared_encoding_always_equals_a_fresh_one(
        loaded_from_snapshot in any::<bool>(),
        steps in vec(step(), 1..40),
    ) {
        let writers: Vec<Doc> = (1..=3).map(Doc::with_client_id).collect();
        let mut room = Room::new();
        let mut stored_frame = None;
        if loaded_from_snapshot {
            let author = Doc::with_client_id(9);
            let root = author.get_or_insert_text("text");
            edit(&author, |txn| root.insert(txn, 0, "loaded from storage"));
            edit(&author, |txn| root.remove_range(txn, 4, 5));
            let snapshot = author.transact().encode_state_as_update_v1(&StateVector::default());
            room.handle_stored_snapshot(&snapshot).unwrap();
            stored_frame = Some(sync_frame(SyncMessage::SyncStep2(snapshot)));
        }
        let matches_document = |frame: &Bytes, room: &Room| {
            *frame == fresh_full_state_frame(room)
                || (Some(frame) == stored_frame.as_ref()
                    && document_of_frame(frame) == fresh_full_state_frame(room))
        };
        let connection = room.handle_connect(Access::ReadWrite);
        let mut versions = vec![room.encode_state_as_update()];
        for step in steps {
            match step {
                Step::Insert { writer, at, text } => {
                    let doc = writer.get(&writers);
                    let root = doc.get_or_insert_text("text");
                    let at = at.index(root.len(&doc.transact()) as usize + 1) as u32;
                    let update = edit(doc, |txn| root.insert(txn, at, &text));
                    room.handle_frame(connection, &sync_frame(SyncMessage::Update(update))).unwrap();
                }
                Step::Delete { writer, at, len } => {
                    let doc = writer.get(&writers);
                    let root = doc.get_or_insert_text("text");
                    let length = root.len(&doc.transact());
                    if length == 0 {
                        continue;
                    }
                    let at = at.index(length as usize) as u32;
                    let len = len.min(length - at);
                    let update = edit(doc, |txn| root.remove_range(txn, at, len));
                    room.handle_frame(connection, &sync_frame(SyncMessage::Update(update))).unwrap();
                }
                Step::SetKey { writer, key, value } => {
                    let doc = writer.get(&writers);
                    let root = doc.get_or_insert_map("map");
                    let update = edit(doc, |txn| { root.insert(txn, key.to_string(), value); });
                    room.handle_frame(connection, &sync_frame(SyncMessage::Update(update))).unwrap();
                }
                Step::Resync { writer } => {
                    let state = writer
                        .get(&writers)
                        .transact()
                        .encode_state_as_update_v1(&StateVector::default());
                    room.handle_frame(connection, &sync_frame(SyncMessage::SyncStep2(state))).unwrap();
                }
                Step::TakeVersion => versions.push(room.encode_state_as_update()),
                Step::Restore { version } => {
                    room.handle_restore(version.get(&versions).as_slice()).unwrap();
                }
                Step::Join => {
                    let (_, frame) = join_empty(&mut room);
                    prop_assert!(matches_document(&frame, &room));
                }
            }
            std::iter::from_fn(|| room.poll_outgoing()).for_each(drop);
            prop_assert!(matches_document(&room.full_state_frame(), &room));
        }
    }
}
