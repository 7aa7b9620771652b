//! Letting a room's document go while its clients stay connected, and taking them back.

mod common;

use common::{connected_network, contents};
use crdt_core::{Access, ProtocolError, Room};
use yrs::Text;

/// Reloads `network`'s room the way a server does after letting it go: a fresh room from the
/// stored snapshot, given back the members it had.
fn sleep_and_wake(network: &mut common::Network) {
    let members = network
        .room
        .members_if_idle()
        .expect("an idle room can sleep");
    let snapshot = network.room.encode_state_as_update();
    let mut woken = Room::new();
    woken.handle_stored_snapshot(&snapshot).unwrap();
    woken.handle_resume(members);
    network.room = woken;
}

/// Synced clients of a room that slept go on editing with each other as if nothing happened.
#[test]
fn clients_of_a_woken_room_keep_their_ids_and_go_on_editing() {
    let mut network = connected_network(Room::new(), 3);
    network.edit(0, |roots, txn| roots.text.insert(txn, 0, "before"));
    network.settle();

    sleep_and_wake(&mut network);
    assert_eq!(network.room.connection_count(), 3);
    assert_eq!(contents(network.room.doc()).text, "before");
    network.edit(1, |roots, txn| roots.text.insert(txn, 6, " after"));
    network.settle();
    for peer in &network.peers {
        assert_eq!(contents(peer.client.doc()).text, "before after");
    }
}

/// A newcomer to a woken room gets an id no sleeping member holds.
#[test]
fn newcomers_after_waking_never_reuse_a_members_id() {
    let mut network = connected_network(Room::new(), 2);
    network.settle();
    sleep_and_wake(&mut network);
    let members: Vec<_> = network.peers.iter().map(|peer| peer.connection).collect();
    let newcomer = network.room.handle_connect(Access::ReadWrite);
    assert!(!members.contains(&Some(newcomer)), "{newcomer} reused");
}

/// A room with live presence does not sleep (it holds the only copy); once it is gone, it can.
#[test]
fn live_awareness_keeps_a_room_awake() {
    let mut network = connected_network(Room::new(), 2);
    network.settle();
    network.set_awareness(0, r#"{"user":{"name":"Ada"}}"#);
    network.settle();
    assert_eq!(network.room.members_if_idle(), None);

    network.disconnect(0);
    network.settle();
    let members = network.room.members_if_idle().expect("no live state left");
    assert_eq!(members.len(), 1);
}

/// Effects not yet carried out keep a room awake: they would be lost with it.
#[test]
fn waiting_effects_keep_a_room_awake() {
    let mut network = connected_network(Room::new(), 2);
    network.settle();
    network.edit(0, |roots, txn| roots.text.insert(txn, 0, "x"));
    network.send_next_raw(0).unwrap();
    assert_eq!(network.room.members_if_idle(), None);
}

/// A client that left while the room slept is not known to the woken room, and its read-only
/// neighbours stay read-only.
#[test]
fn leaving_while_asleep_and_access_survive_waking() {
    let mut network = connected_network(Room::new(), 1);
    let reader = network.room.handle_connect(Access::ReadOnly);
    network.settle();
    let leaver = network.peers[0].connection.unwrap();
    let mut members = network.room.members_if_idle().unwrap();
    assert!(members.handle_disconnect(leaver));
    assert!(!members.handle_disconnect(leaver), "already gone");

    let mut woken = Room::new();
    woken.handle_resume(members);
    let update = common::text_update(7, "nope");
    let frame = crdt_core::wire::encode_update_frame(&update);
    assert!(matches!(
        woken.handle_frame(leaver, &frame),
        Err(ProtocolError::UnknownConnection(_))
    ));
    woken.handle_frame(reader, &frame).unwrap();
    assert_eq!(
        contents(woken.doc()).text,
        "",
        "a reader cannot write after waking"
    );
}
