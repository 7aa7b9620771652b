//! `Room` against real `yrs` clients: what y-protocols peers see and what the server must do.

mod common;

use std::collections::HashMap;

use common::{
    Network, assert_still_serves, awareness_entries, awareness_message, awareness_state, broadcast,
    connected_network, contents, drain, is_empty_update, only_reply, persist, room_with_hello,
    sync_frame, text_of_update, text_update, update_message,
};
use crdt_core::wire::{decode_frame, encode_frame};
use crdt_core::{AWARENESS_TIMEOUT_MILLIS, Access, ManualClock, Outgoing, ProtocolError, Room};
use yrs::sync::{Message, SyncMessage};
use yrs::{Any, Array, Map, StateVector, Text, Update};

const ADA: &str = r#"{"user":{"name":"Ada"}}"#;
const BOB: &str = r#"{"user":{"name":"Bob"}}"#;

/// SyncStep1 gets the missing updates as SyncStep2, then the room's own SyncStep1, one per frame.
#[test]
fn sync_step1_is_answered_with_step2_then_the_rooms_step1_in_separate_frames() {
    let mut room = room_with_hello();
    let connection = room.handle_connect(Access::ReadWrite);
    assert_eq!(room.poll_outgoing(), None, "no awareness yet");

    let step1 = |state| sync_frame(SyncMessage::SyncStep1(state));
    room.handle_frame(connection, &step1(StateVector::default()))
        .unwrap();
    let effects = drain(&mut room);
    assert_eq!(effects.len(), 2, "{effects:?}");
    let (first_to, first) = only_reply(&effects[..1]);
    let (second_to, second) = only_reply(&effects[1..]);
    assert_eq!((first_to, second_to), (connection, connection));
    let Message::Sync(SyncMessage::SyncStep2(diff)) = first else {
        panic!("{first:?}")
    };
    assert_eq!(text_of_update(&diff), "hello");
    let own_state = room.state_vector();
    assert_eq!(
        second,
        Message::Sync(SyncMessage::SyncStep1(own_state.clone()))
    );

    // A peer that already has everything is sent an empty diff.
    room.handle_frame(connection, &step1(own_state)).unwrap();
    let (_, message) = only_reply(&drain(&mut room)[..1]);
    let Message::Sync(SyncMessage::SyncStep2(diff)) = message else {
        panic!("{message:?}")
    };
    assert!(is_empty_update(&diff));
}

/// A client's Update is persisted, then broadcast once (one shared frame) to everyone else.
#[test]
fn update_is_persisted_then_broadcast_once_to_everyone_but_its_sender() {
    let mut network = connected_network(Room::new(), 3);
    let sender = network.peers[0].connection;
    let update = network.edit(0, |roots, txn| roots.text.insert(txn, 0, "abc"));

    network.send_next_raw(0).unwrap();
    let effects = network.take_room_outgoing();
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert_eq!(effects[0], persist(&update));
    assert_eq!(broadcast(&effects[1]), (sender, update_message(&update)));

    network.route(effects);
    network.settle();
    for peer in &network.peers {
        assert_eq!(contents(peer.client.doc()).text, "abc");
    }
    assert_eq!(contents(network.room.doc()).text, "abc");
    assert_eq!(network.persisted.len(), 1, "stored exactly once");
}

/// How many updates were persisted and frames broadcast while peer 0 reconnected.
fn reconnect_traffic(network: &mut Network) -> (usize, usize) {
    let before = (network.persisted.len(), network.broadcasts.len());
    network.disconnect(0);
    network.connect(0, Access::ReadWrite);
    network.settle();
    (
        network.persisted.len() - before.0,
        network.broadcasts.len() - before.1,
    )
}

/// Reconnecting with nothing the room lacks persists and broadcasts nothing.
#[test]
fn sync_step2_with_nothing_new_is_neither_persisted_nor_broadcast() {
    let mut network = connected_network(Room::new(), 2);
    network.edit(0, |roots, txn| roots.text.insert(txn, 0, "hello"));
    network.settle();
    assert_eq!(reconnect_traffic(&mut network), (0, 0));
}

/// Same, for a client whose document holds deletions the room already knows.
#[test]
fn sync_step2_with_only_known_deletions_is_neither_persisted_nor_broadcast() {
    let mut network = connected_network(Room::new(), 2);
    network.edit(0, |roots, txn| roots.text.insert(txn, 0, "hello world"));
    network.edit(0, |roots, txn| roots.text.remove_range(txn, 0, 6));
    network.settle();
    assert_eq!(contents(network.room.doc()).text, "world");
    assert_eq!(reconnect_traffic(&mut network), (0, 0));
}

/// Every message of a frame holding several is handled, in order.
#[test]
fn messages_concatenated_in_one_frame_are_all_handled() {
    let mut network = connected_network(Room::new(), 2);
    let update = text_update(9, "xyz");
    let parts = [
        update_message(&update),
        awareness_message(9, ADA),
        Message::AwarenessQuery,
    ];
    let frame: Vec<u8> = parts.iter().flat_map(encode_frame).collect();

    network.send_raw(0, &frame).unwrap();
    let effects = network.take_room_outgoing();
    assert_eq!(effects.len(), 4, "{effects:?}");
    assert_eq!(effects[0], persist(&update));
    let sender = network.peers[0].connection;
    assert_eq!(broadcast(&effects[1]), (sender, update_message(&update)));
    let (_, presence) = broadcast(&effects[2]);
    let (_, answer) = only_reply(&effects[3..]);
    let expected = HashMap::from([(9, ADA.to_owned())]);
    assert_eq!(awareness_entries(presence), expected);
    assert_eq!(awareness_entries(answer), expected);

    network.route(effects);
    network.settle();
    assert_eq!(contents(network.peers[1].client.doc()).text, "xyz");
    assert_eq!(network.seen_by(1, 9).as_deref(), Some(ADA));
}

/// A client's awareness state reaches the others and is echoed back to it.
#[test]
fn awareness_state_reaches_the_others_and_is_echoed_to_its_sender() {
    let mut network = connected_network(Room::new(), 2);
    network.set_awareness(0, ADA);
    network.send_next_raw(0).unwrap();
    let effects = network.take_room_outgoing();
    assert_eq!(effects.len(), 1, "{effects:?}");
    let (except, message) = broadcast(&effects[0]);
    assert_eq!(except, None, "echoed to the sender too");
    assert_eq!(
        awareness_entries(message),
        HashMap::from([(1, ADA.to_owned())])
    );

    network.route(effects);
    network.settle();
    assert_eq!(network.seen_by(1, 1).as_deref(), Some(ADA));
}

/// A joining client is sent the current awareness states by handle_connect itself.
#[test]
fn connecting_client_is_sent_current_awareness_states_at_once() {
    let mut network = connected_network(Room::new(), 2);
    network.set_awareness(0, ADA);
    network.set_awareness(1, BOB);
    network.settle();

    let joiner = network.add_peer(3);
    let connection = network.room.handle_connect(Access::ReadWrite);
    let effects = network.take_room_outgoing();
    let (to, message) = only_reply(&effects);
    assert_eq!(to, connection);
    let expected = HashMap::from([(1, ADA.to_owned()), (2, BOB.to_owned())]);
    assert_eq!(awareness_entries(message.clone()), expected);

    let client = &mut network.peers[joiner].client;
    client.handle_frame(&encode_frame(&message)).unwrap();
    assert_eq!(awareness_state(client.awareness(), 2).as_deref(), Some(BOB));
}

/// When a connection drops, its awareness state disappears for everyone else.
#[test]
fn disconnect_removes_the_clients_awareness_state_for_the_others() {
    let mut network = connected_network(Room::new(), 2);
    network.set_awareness(0, ADA);
    network.settle();
    assert!(network.seen_by(1, 1).is_some());

    network.disconnect(0);
    network.settle();
    assert_eq!(network.seen_by(1, 1), None);
    assert_eq!(awareness_state(network.room.awareness(), 1), None);
}

/// A reconnecting client's awareness state is shown to the others again.
#[test]
fn reconnecting_client_is_shown_to_the_others_again() {
    let mut network = connected_network(Room::new(), 2);
    network.set_awareness(0, ADA);
    network.settle();
    network.disconnect(0);
    network.settle();

    network.connect(0, Access::ReadWrite);
    network.settle();
    assert_eq!(network.seen_by(1, 1).as_deref(), Some(ADA));
}

/// States not renewed for 30 s expire on tick (not at 29.999 s); renewed ones stay.
#[test]
fn awareness_states_expire_thirty_seconds_after_their_last_renewal() {
    let clock = ManualClock::starting_at(1_000_000);
    let mut network = connected_network(Room::with_clock(clock.clone()), 3);
    network.set_awareness(0, ADA);
    network.set_awareness(1, BOB);
    network.settle();

    clock.advance(20_000);
    network.set_awareness(1, BOB); // Bob renews, Ada does not.
    network.settle();
    clock.advance(AWARENESS_TIMEOUT_MILLIS - 20_000 - 1);
    network.room.handle_tick();
    assert_eq!(network.take_room_outgoing(), []);

    clock.advance(1);
    network.room.handle_tick();
    // Checked on the wire: a connected client that hears its own state removed announces it
    // again (as y-protocols clients do), so the removal is what must be asserted.
    let outgoing = network.take_room_outgoing();
    let [
        Outgoing::Broadcast {
            except: None,
            frame,
        },
    ] = outgoing.as_slice()
    else {
        panic!("expected one broadcast to everyone, got {outgoing:?}");
    };
    let messages = decode_frame(frame).expect("the room encodes valid frames");
    let [Message::Awareness(removal)] = messages.as_slice() else {
        panic!("expected one awareness message, got {messages:?}");
    };
    let removed: Vec<(u64, String)> = removal
        .clients
        .iter()
        .map(|(client, entry)| (client.get(), entry.json.to_string()))
        .collect();
    assert_eq!(removed, vec![(1, "null".to_owned())], "only Ada expires");
}

/// QueryAwareness is answered, to the asker only, with every live state.
#[test]
fn query_awareness_is_answered_with_all_states() {
    let mut network = connected_network(Room::new(), 3);
    network.set_awareness(0, ADA);
    network.set_awareness(1, BOB);
    network.settle();

    let query = encode_frame(&Message::AwarenessQuery);
    network.send_raw(2, &query).unwrap();
    let (to, message) = only_reply(&network.take_room_outgoing());
    assert_eq!(Some(to), network.peers[2].connection);
    let expected = HashMap::from([(1, ADA.to_owned()), (2, BOB.to_owned())]);
    assert_eq!(awareness_entries(message), expected);
}

/// A read-only client gets the document, its edits are refused and go nowhere, its awareness
/// is shared.
#[test]
fn read_only_connection_receives_the_document_but_cannot_change_it() {
    let mut network = connected_network(room_with_hello(), 1);
    let reader = network.add_peer(2);
    network.connect(reader, Access::ReadOnly);
    network.settle();
    assert_eq!(contents(network.peers[reader].client.doc()).text, "hello");

    network.edit(reader, |roots, txn| roots.text.insert(txn, 5, " world"));
    network.send_next_raw(reader).unwrap();
    let effects = network.take_room_outgoing();
    let (to, message) = only_reply(&effects);
    assert_eq!(Some(to), network.peers[reader].connection);
    assert!(matches!(message, Message::Auth(Some(_))), "{message:?}");

    network.route(effects);
    network.settle();
    assert!(network.peers[reader].client.permission_denied().is_some());
    assert_eq!(contents(network.room.doc()).text, "hello");
    assert_eq!(contents(network.peers[0].client.doc()).text, "hello");
    assert!(network.persisted.is_empty());

    network.set_awareness(reader, BOB);
    network.settle();
    assert_eq!(network.seen_by(0, 2).as_deref(), Some(BOB));
}

/// Malformed frames become typed errors, change nothing, and do not disturb other connections.
#[test]
fn malformed_frames_are_typed_errors_and_the_room_keeps_serving() {
    let mut network = connected_network(room_with_hello(), 3);
    let before = contents(network.room.doc());
    let empty = network.send_raw(2, &[]);
    assert!(matches!(empty, Err(ProtocolError::EmptyFrame)), "{empty:?}");
    // A valid message without effects, then a sync message with an unknown step.
    let mut trailing = sync_frame(SyncMessage::SyncStep2(Update::EMPTY_V1.into())).to_vec();
    trailing.extend_from_slice(&[0, 7]);
    let garbage = network.send_raw(2, &trailing);
    assert!(
        matches!(garbage, Err(ProtocolError::MalformedMessage(_))),
        "{garbage:?}"
    );
    for payload in [&[0xFF; 4][..], b"not a yjs update", &[1, 1, 5, 0, 9, 9, 9]] {
        let result = network.send_raw(2, &sync_frame(SyncMessage::Update(payload.into())));
        let refused = matches!(
            result,
            Err(ProtocolError::MalformedUpdate(_)
                | ProtocolError::Invalid(_)
                | ProtocolError::UndecodableUpdate
                | ProtocolError::UpdateRejected(_))
        );
        assert!(refused, "{payload:?}: {result:?}");
    }
    assert_eq!(network.take_room_outgoing(), []);
    assert_eq!(contents(network.room.doc()), before);
    assert_still_serves(&mut network);
}

/// Truncated varints and buffers are malformed messages, not a silently shorter frame.
#[test]
fn truncated_frames_are_malformed_messages() {
    let mut network = connected_network(Room::new(), 3);
    let mut valid_then_cut = encode_frame(&Message::AwarenessQuery).to_vec();
    valid_then_cut.push(0x80);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated message tag", vec![0x80]),
        ("truncated length varint", vec![0, 2, 0x85]),
        ("payload shorter than its length", vec![0, 2, 10, 1]),
        ("valid message then a truncated varint", valid_then_cut),
    ];
    for (name, frame) in cases {
        let result = network.send_raw(2, &frame);
        let malformed = matches!(result, Err(ProtocolError::MalformedMessage(_)));
        assert!(malformed, "{name}: {result:?}");
    }
    assert_still_serves(&mut network);
}

/// Frames from a connection the room no longer knows are refused with its id.
#[test]
fn frame_from_unknown_connection_is_refused() {
    let mut network = connected_network(Room::new(), 3);
    let gone = network.peers[2].connection.unwrap();
    network.disconnect(2);
    let query = encode_frame(&Message::AwarenessQuery);
    let result = network.room.handle_frame(gone, &query);
    assert!(matches!(result, Err(ProtocolError::UnknownConnection(id)) if id == gone));
    network.room.handle_disconnect(gone); // a second disconnect is harmless
    assert_still_serves(&mut network);
}

/// A server-side update is persisted and broadcast to every connection; an empty one is not.
#[test]
fn local_update_is_persisted_and_broadcast_to_every_connection() {
    let mut network = connected_network(Room::new(), 2);
    let update = text_update(9, "from the server");
    assert!(network.room.handle_local_update(&update).unwrap());
    let effects = network.take_room_outgoing();
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert_eq!(effects[0], persist(&update));
    assert_eq!(broadcast(&effects[1]), (None, update_message(&update)));

    network.route(effects);
    network.settle();
    for peer in &network.peers {
        assert_eq!(contents(peer.client.doc()).text, "from the server");
    }
    assert!(!network.room.handle_local_update(Update::EMPTY_V1).unwrap());
    assert_eq!(network.room.poll_outgoing(), None);
}

/// An update loaded from storage restores content without persisting or sending anything.
#[test]
fn stored_update_restores_content_and_queues_nothing() {
    let mut network = connected_network(Room::new(), 1);
    let stored = text_update(9, "stored");
    network.room.handle_stored_update(&stored).unwrap();
    assert_eq!(network.room.poll_outgoing(), None);
    assert_eq!(contents(network.room.doc()).text, "stored");
}

/// A client joining after edits (including deletions) receives the whole document.
#[test]
fn late_joiner_receives_the_full_document() {
    let mut network = connected_network(Room::new(), 2);
    network.edit(0, |roots, txn| {
        roots.text.insert(txn, 0, "hello brave world");
        roots.array.insert(txn, 0, "first");
        roots.map.insert(txn, "title", "draft");
    });
    network.settle();
    network.edit(1, |roots, txn| {
        roots.text.remove_range(txn, 5, 6);
        roots.array.push_back(txn, "second");
        roots.map.insert(txn, "title", "final");
    });
    network.settle();

    let joiner = network.add_peer(3);
    network.connect(joiner, Access::ReadWrite);
    network.settle();
    let joined = contents(network.peers[joiner].client.doc());
    assert_eq!(joined.text, "hello world");
    assert_eq!(joined, contents(network.room.doc()));
    assert_eq!(joined, contents(network.peers[0].client.doc()));
    let title = HashMap::from([("title".to_owned(), "final")]);
    assert_eq!(joined.map, Any::from(title));
}
