//! What a room does with what peer servers send, and what it hands out for them.

use yrs::block::ClientID;
use yrs::sync::{Awareness, Message};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

use super::*;
use crate::room::{Access, ConnectionId};
use crate::wire::{decode_frame_within, encode_frame, encode_update_frame};

fn drain(room: &mut Room) -> Vec<Outgoing> {
    std::iter::from_fn(|| room.poll_outgoing()).collect()
}

fn text_of(room: &Room) -> String {
    let text = room.doc().get_or_insert_text("text");
    text.get_string(&room.doc().transact())
}

/// A writer's document on client `client`, and the updates of its edits, one per insert.
fn edits(client: u64, inserts: &[&str]) -> Vec<Vec<u8>> {
    let doc = Doc::with_client_id(client);
    let text = doc.get_or_insert_text("text");
    inserts
        .iter()
        .map(|insert| {
            let before = doc.transact().state_vector();
            let length = text.get_string(&doc.transact()).len() as u32;
            text.insert(&mut doc.transact_mut(), length, insert);
            doc.transact().encode_state_as_update_v1(&before)
        })
        .collect()
}

/// An awareness frame announcing `state` for awareness client `client`.
fn awareness_frame(client: u64, state: &str) -> Bytes {
    let mut awareness = Awareness::new(Doc::with_client_id(client));
    awareness.set_local_state_raw(state);
    encode_frame(&Message::Awareness(awareness.update().expect("one state")))
}

fn broadcasts(outgoing: &[Outgoing]) -> Vec<Bytes> {
    outgoing
        .iter()
        .filter_map(|effect| match effect {
            Outgoing::Broadcast {
                except: None,
                frame,
            } => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

fn room_with_connection() -> (Room, ConnectionId) {
    let mut room = Room::new();
    let connection = room.handle_connect(Access::ReadWrite);
    drain(&mut room);
    (room, connection)
}

#[test]
fn a_peer_update_is_broadcast_to_everyone_and_never_persisted() {
    let (mut room, _connection) = room_with_connection();
    let [update] = edits(7, &["hello"]).try_into().expect("one edit");
    assert!(room.handle_peer_update(&update).expect("applied"));
    let outgoing = drain(&mut room);
    assert!(
        !outgoing
            .iter()
            .any(|effect| matches!(effect, Outgoing::Persist { .. })),
        "the peer stored it already: {outgoing:?}"
    );
    assert_eq!(broadcasts(&outgoing), vec![encode_update_frame(&update)]);
    assert_eq!(text_of(&room), "hello");

    // Heard twice (a message repeated, or read back from the store): nothing new, nothing sent.
    assert!(!room.handle_peer_update(&update).expect("a repeat is fine"));
    assert_eq!(drain(&mut room), vec![]);
}

#[test]
fn a_peer_update_past_a_missed_one_waits_for_it_then_both_show() {
    let (mut room, _connection) = room_with_connection();
    let [first, second] = edits(7, &["ab", "cd"]).try_into().expect("two edits");
    room.handle_peer_update(&second)
        .expect("applied, waiting for what it builds on");
    assert_eq!(text_of(&room), "", "nothing shows before what it builds on");
    room.handle_peer_update(&first)
        .expect("the missed update, read from the store");
    assert_eq!(text_of(&room), "abcd");
    // The connection was sent both, so a client holds what the room holds.
    let client = Doc::new();
    for frame in broadcasts(&drain(&mut room)) {
        for message in decode_frame_within(&frame, &Default::default()).expect("valid frame") {
            if let Message::Sync(yrs::sync::SyncMessage::Update(update)) = message {
                let _ = client
                    .transact_mut()
                    .apply_update(Update::decode_v1(&update).expect("valid update"));
            }
        }
    }
    let client_text = client.get_or_insert_text("text");
    assert_eq!(client_text.get_string(&client.transact()), "abcd");
    assert_eq!(
        client.transact().state_vector(),
        room.doc().transact().state_vector()
    );
    assert_ne!(room.state_vector(), StateVector::default());
}

#[test]
fn peer_awareness_shows_until_the_peer_is_gone() {
    let (mut room, _connection) = room_with_connection();
    let peer = PeerId(42);
    let frame = awareness_frame(900, r#"{"user":"on another node"}"#);
    room.handle_peer_awareness(peer, &frame).expect("applied");
    assert_eq!(broadcasts(&drain(&mut room)), vec![frame]);
    assert!(
        room.awareness()
            .state::<serde_json::Value>(ClientID::new(900))
            .is_some()
    );
    // A joiner is sent the peer's states with the others'.
    let joiner = room.handle_connect(Access::ReadOnly);
    let joined = drain(&mut room);
    assert!(
        joined.iter().any(|effect| matches!(
            effect,
            Outgoing::Reply { to, .. } if *to == joiner
        )),
        "{joined:?}"
    );

    room.handle_peer_gone(peer);
    let removal = broadcasts(&drain(&mut room));
    assert_eq!(removal.len(), 1, "one removal for everyone");
    assert!(
        room.awareness()
            .state::<serde_json::Value>(ClientID::new(900))
            .is_none()
    );
    room.handle_peer_gone(peer);
    assert_eq!(drain(&mut room), vec![], "gone once");
}

#[test]
fn a_peer_frame_that_is_not_awareness_is_refused() {
    let (mut room, _connection) = room_with_connection();
    let [update] = edits(7, &["x"]).try_into().expect("one edit");
    let refused = room.handle_peer_awareness(PeerId(1), &encode_update_frame(&update));
    assert!(
        matches!(refused, Err(ProtocolError::NotAwareness)),
        "{refused:?}"
    );
    assert_eq!(text_of(&room), "");
}

#[test]
fn connections_awareness_goes_to_peers_only_when_shared() {
    let (mut room, connection) = room_with_connection();
    let frame = awareness_frame(5, r#"{"user":"here"}"#);
    room.handle_frame(connection, &frame).expect("applied");
    assert!(
        !drain(&mut room)
            .iter()
            .any(|effect| matches!(effect, Outgoing::ToPeers { .. })),
        "one server alone has no peers"
    );

    room.share_with_peers(true);
    let renewed = awareness_frame(6, r#"{"user":"also here"}"#);
    room.handle_frame(connection, &renewed).expect("applied");
    let outgoing = drain(&mut room);
    assert!(outgoing.contains(&Outgoing::ToPeers {
        frame: renewed.clone()
    }));
    // Only this room's connections' states are offered to a peer that asks, not other peers'.
    room.handle_peer_awareness(PeerId(3), &awareness_frame(700, r#"{"user":"elsewhere"}"#))
        .expect("applied");
    drain(&mut room);
    let offered = room.awareness_for_peers().expect("two states");
    let Message::Awareness(offered) = decode_frame_within(&offered, &Default::default())
        .expect("valid")
        .remove(0)
    else {
        panic!("an awareness frame");
    };
    let mut clients: Vec<u64> = offered.clients.keys().map(|client| client.get()).collect();
    clients.sort_unstable();
    assert_eq!(clients, vec![5, 6]);

    // The connection leaves: its states' removal goes to the peers too.
    room.handle_disconnect(connection);
    let outgoing = drain(&mut room);
    assert_eq!(
        outgoing
            .iter()
            .filter(|effect| matches!(effect, Outgoing::ToPeers { .. }))
            .count(),
        1,
        "{outgoing:?}"
    );
}
