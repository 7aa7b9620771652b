//! A room holding its stored snapshot unapplied: joiners get the stored bytes at once, the room's
//! SyncStep1 follows when the server is idle, and nothing anyone sees differs from a room that
//! applied the snapshot on load.

mod common;

use common::{Network, contents, drain, only_message, sync_frame, text_of_update};
use crdt_core::{Access, ConnectionId, Outgoing, Room};
use proptest::prelude::*;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

/// A stored snapshot with deletions in it (they are what a synced client's SyncStep2 repeats).
fn stored_snapshot() -> Vec<u8> {
    let writer = Doc::with_client_id(3);
    let text = writer.get_or_insert_text("text");
    text.insert(
        &mut writer.transact_mut(),
        0,
        "stored words, some of them deleted",
    );
    text.remove_range(&mut writer.transact_mut(), 6, 7);
    text.remove_range(&mut writer.transact_mut(), 0, 2);
    writer
        .transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// A room loaded the old way (applied) and one holding the same snapshot unapplied.
fn applied_and_unapplied(snapshot: &[u8]) -> (Room, Room) {
    let mut applied = Room::new();
    applied.handle_stored_snapshot(snapshot).unwrap();
    let mut unapplied = Room::new();
    unapplied
        .handle_stored_snapshot_unapplied(snapshot)
        .unwrap();
    (applied, unapplied)
}

fn step1_from_nothing() -> bytes::Bytes {
    sync_frame(SyncMessage::SyncStep1(StateVector::default()))
}

fn reply_messages(effects: &[Outgoing]) -> Vec<(ConnectionId, Message)> {
    effects
        .iter()
        .map(|effect| match effect {
            Outgoing::Reply { to, frame } => (*to, only_message(frame)),
            other => panic!("expected only replies, got {other:?}"),
        })
        .collect()
}

/// Delivers everything, letting the room go idle whenever its queues are empty, until quiet.
fn settle_with_idle(network: &mut Network) {
    loop {
        network.settle();
        if !network.room.has_idle_work() {
            return;
        }
        network.room.handle_idle();
        network.route_room_outgoing();
    }
}

/// A joiner is sent the stored snapshot as stored at once; the room's SyncStep1 (with the state
/// vector the applied room has) comes only from `handle_idle`, and only once.
#[test]
fn a_joiner_gets_the_stored_snapshot_at_once_and_the_rooms_step1_when_idle() {
    let snapshot = stored_snapshot();
    let (applied, mut room) = applied_and_unapplied(&snapshot);
    let connection = room.handle_connect(Access::ReadWrite);
    room.handle_frame(connection, &step1_from_nothing())
        .unwrap();

    let effects = drain(&mut room);
    let [Outgoing::Reply { to, frame }] = effects.as_slice() else {
        panic!("one reply: {effects:?}");
    };
    assert_eq!(*to, connection);
    assert_eq!(
        *frame,
        sync_frame(SyncMessage::SyncStep2(snapshot.clone())),
        "the snapshot byte for byte"
    );
    assert!(room.has_idle_work());

    room.handle_idle();
    assert_eq!(
        reply_messages(&drain(&mut room)),
        [(
            connection,
            Message::Sync(SyncMessage::SyncStep1(applied.state_vector()))
        )]
    );
    assert!(!room.has_idle_work());
    room.handle_idle();
    assert_eq!(drain(&mut room), []);
}

/// A room too busy to be idle still sends the owed SyncStep1 when time passes.
#[test]
fn a_tick_sends_the_owed_step1() {
    let (applied, mut room) = applied_and_unapplied(&stored_snapshot());
    let connection = room.handle_connect(Access::ReadWrite);
    room.handle_frame(connection, &step1_from_nothing())
        .unwrap();
    drain(&mut room);
    room.handle_tick();
    assert_eq!(
        reply_messages(&drain(&mut room)),
        [(
            connection,
            Message::Sync(SyncMessage::SyncStep1(applied.state_vector()))
        )]
    );
    assert!(!room.has_idle_work());
}

/// Read-only joiners would have their answer to a SyncStep1 refused, so they are owed none.
#[test]
fn read_only_joiners_are_owed_no_sync_step1() {
    let (_, mut room) = applied_and_unapplied(&stored_snapshot());
    let connection = room.handle_connect(Access::ReadOnly);
    room.handle_frame(connection, &step1_from_nothing())
        .unwrap();
    assert_eq!(drain(&mut room).len(), 1, "the SyncStep2 only");
    assert!(!room.has_idle_work());
}

/// A joiner that left before the room went idle is sent nothing more.
#[test]
fn a_joiner_that_left_is_not_sent_the_owed_step1() {
    let (_, mut room) = applied_and_unapplied(&stored_snapshot());
    let connection = room.handle_connect(Access::ReadWrite);
    room.handle_frame(connection, &step1_from_nothing())
        .unwrap();
    room.handle_disconnect(connection);
    drain(&mut room);
    room.handle_idle();
    assert_eq!(drain(&mut room), []);
}

/// Clients that synced from the stored bytes and answered the room's SyncStep1 (repeating the
/// snapshot's deletions) cause nothing to be stored or broadcast, and hold the document.
#[test]
fn synced_joiners_answers_store_and_broadcast_nothing() {
    let snapshot = stored_snapshot();
    let (_, room) = applied_and_unapplied(&snapshot);
    let mut network = Network::new(room);
    for client_id in 1..=3 {
        let peer = network.add_peer(client_id);
        network.connect(peer, Access::ReadWrite);
    }
    settle_with_idle(&mut network);
    assert!(network.persisted.is_empty(), "{:?}", network.persisted);
    assert!(network.broadcasts.is_empty());
    let expected = text_of_update(&snapshot);
    for peer in &network.peers {
        assert_eq!(contents(peer.client.doc()).text, expected);
        assert!(peer.client.is_synced());
    }
    assert_eq!(contents(network.room.doc()).text, expected);
}

/// An Update arriving before the room went idle lands on top of the snapshot: persisted, then
/// broadcast to the others, and the owed SyncStep1s follow at once (the document is at hand).
#[test]
fn an_update_before_idle_is_applied_on_the_snapshot_and_broadcast() {
    let snapshot = stored_snapshot();
    let (_, mut room) = applied_and_unapplied(&snapshot);
    let writer = room.handle_connect(Access::ReadWrite);
    let reader = room.handle_connect(Access::ReadWrite);
    room.handle_frame(writer, &step1_from_nothing()).unwrap();
    room.handle_frame(reader, &step1_from_nothing()).unwrap();
    drain(&mut room);

    let client = Doc::with_client_id(7);
    client
        .transact_mut()
        .apply_update(Update::decode_v1(&snapshot).unwrap())
        .unwrap();
    let text = client.get_or_insert_text("text");
    let update = {
        let mut transaction = client.transact_mut();
        text.insert(&mut transaction, 0, ">> ");
        transaction.encode_update_v1()
    };
    room.handle_frame(writer, &sync_frame(SyncMessage::Update(update.clone())))
        .unwrap();

    let effects = drain(&mut room);
    assert_eq!(effects.len(), 4, "{effects:?}");
    assert_eq!(effects[0], common::persist(&update));
    assert_eq!(
        common::broadcast(&effects[1]),
        (Some(writer), common::update_message(&update))
    );
    let state = Message::Sync(SyncMessage::SyncStep1(room.state_vector()));
    assert_eq!(
        reply_messages(&effects[2..]),
        [(writer, state.clone()), (reader, state)]
    );
    assert!(!room.has_idle_work());
    assert_eq!(
        contents(room.doc()).text,
        format!(">> {}", text_of_update(&snapshot))
    );
}

/// After the room went idle (and read the snapshot's state vector without applying it), a
/// SyncStep2 that does bring something (a deletion, or new text) is applied, stored and sent on.
#[test]
fn a_sync_step2_with_news_after_idle_is_stored_and_broadcast() {
    let snapshot = stored_snapshot();
    for change in ["delete", "insert"] {
        let (applied, mut room) = applied_and_unapplied(&snapshot);
        let joiner = room.handle_connect(Access::ReadWrite);
        room.handle_connect(Access::ReadWrite);
        room.handle_frame(joiner, &step1_from_nothing()).unwrap();
        room.handle_idle();
        drain(&mut room);

        let client = Doc::with_client_id(8);
        client
            .transact_mut()
            .apply_update(Update::decode_v1(&snapshot).unwrap())
            .unwrap();
        let text = client.get_or_insert_text("text");
        match change {
            "delete" => text.remove_range(&mut client.transact_mut(), 0, 1),
            _ => text.insert(&mut client.transact_mut(), 0, "new "),
        }
        let answer = client.transact().encode_diff_v1(&applied.state_vector());
        room.handle_frame(joiner, &sync_frame(SyncMessage::SyncStep2(answer)))
            .unwrap();

        let effects = drain(&mut room);
        assert_eq!(effects.len(), 2, "{change}: {effects:?}");
        assert!(matches!(effects[0], Outgoing::Persist { .. }), "{change}");
        assert!(
            matches!(effects[1], Outgoing::Broadcast { except: Some(from), .. } if from == joiner),
            "{change}"
        );
        assert_eq!(
            contents(room.doc()).text,
            contents(&client).text,
            "{change}"
        );
    }
}

/// Everything that reads the document sees the snapshot: document, state vector, encoding, and
/// the frame a joiner with nothing is sent.
#[test]
fn reads_see_the_snapshot() {
    let snapshot = stored_snapshot();
    let (applied, unapplied) = applied_and_unapplied(&snapshot);
    assert_eq!(unapplied.full_state_frame(), applied.full_state_frame());
    assert_eq!(unapplied.state_vector(), applied.state_vector());
    let (applied, unapplied) = applied_and_unapplied(&snapshot);
    assert_eq!(
        unapplied.encode_state_as_update(),
        applied.encode_state_as_update()
    );
    let (applied, unapplied) = applied_and_unapplied(&snapshot);
    assert_eq!(contents(unapplied.doc()), contents(applied.doc()));
    assert_eq!(unapplied.full_state_frame(), applied.full_state_frame());
}

/// A reconnecting client (it has part of the document) is answered as by an applied room, its
/// SyncStep1 included.
#[test]
fn a_client_with_state_is_answered_as_by_an_applied_room() {
    let snapshot = stored_snapshot();
    let (mut applied, mut unapplied) = applied_and_unapplied(&snapshot);
    let partial = StateVector::decode_v1(&{
        let doc = Doc::with_client_id(3);
        let text = doc.get_or_insert_text("text");
        text.insert(&mut doc.transact_mut(), 0, "stored");
        yrs::updates::encoder::Encode::encode_v1(&doc.transact().state_vector())
    })
    .unwrap();
    let step1 = sync_frame(SyncMessage::SyncStep1(partial));
    let answers: Vec<_> = [&mut applied, &mut unapplied]
        .into_iter()
        .map(|room| {
            let connection = room.handle_connect(Access::ReadWrite);
            room.handle_frame(connection, &step1).unwrap();
            reply_messages(&drain(room))
        })
        .collect();
    assert_eq!(answers[0], answers[1]);
    assert!(!unapplied.has_idle_work());
}

/// One thing happening to the room.
#[derive(Debug, Clone)]
enum Step {
    Join { read_only: bool },
    Edit { peer: usize, at: u32, text: String },
    Delete { peer: usize, at: u32 },
    Deliver { pick: usize },
    Settle,
    Idle,
    Leave { peer: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        any::<bool>().prop_map(|read_only| Step::Join { read_only }),
        (0..4usize, 0..20u32, "[a-z]{1,3}").prop_map(|(peer, at, text)| Step::Edit {
            peer,
            at,
            text
        }),
        (0..4usize, 0..20u32).prop_map(|(peer, at)| Step::Delete { peer, at }),
        (0..16usize).prop_map(|pick| Step::Deliver { pick }),
        (0..16usize).prop_map(|pick| Step::Deliver { pick }),
        Just(Step::Settle),
        Just(Step::Idle),
        (0..4usize).prop_map(|peer| Step::Leave { peer }),
    ]
}

/// Runs `steps` against a room; the room's document and every still-connected client's after
/// everything settled, and the document of the snapshot plus everything persisted.
fn run(room: Room, snapshot: &[u8], steps: &[Step]) -> (String, Vec<String>, String) {
    let mut network = Network::new(room);
    let mut read_only = Vec::new();
    for step in steps {
        match step {
            Step::Join { read_only: ro } if network.peers.len() < 4 => {
                let peer = network.add_peer(10 + network.peers.len() as u64);
                let access = if *ro {
                    Access::ReadOnly
                } else {
                    Access::ReadWrite
                };
                network.connect(peer, access);
                read_only.push(*ro);
            }
            Step::Edit { peer, at, text } if *peer < network.peers.len() && !read_only[*peer] => {
                network.edit(*peer, |roots, txn| {
                    let len = roots.text.len(txn);
                    roots.text.insert(txn, at % (len + 1), text);
                });
            }
            Step::Delete { peer, at } if *peer < network.peers.len() && !read_only[*peer] => {
                network.edit(*peer, |roots, txn| {
                    let len = roots.text.len(txn);
                    if len > 0 {
                        roots.text.remove_range(txn, at % len, 1);
                    }
                });
            }
            Step::Deliver { pick } => {
                let pending = network.pending();
                if !pending.is_empty() {
                    let (peer, direction) = pending[pick % pending.len()];
                    network.deliver(peer, direction);
                }
            }
            Step::Settle => network.settle(),
            Step::Idle => {
                network.room.handle_idle();
                network.route_room_outgoing();
            }
            Step::Leave { peer } if *peer < network.peers.len() => network.disconnect(*peer),
            _ => {}
        }
    }
    settle_with_idle(&mut network);
    let room_text = contents(network.room.doc()).text;
    let clients = network
        .peers
        .iter()
        .filter(|peer| peer.connection.is_some())
        .map(|peer| contents(peer.client.doc()).text)
        .collect();
    let durable = Doc::new();
    let mut transaction = durable.transact_mut();
    for update in std::iter::once(snapshot).chain(network.persisted.iter().map(|u| &u[..])) {
        transaction
            .apply_update(Update::decode_v1(update).unwrap())
            .unwrap();
    }
    drop(transaction);
    (room_text, clients, contents(&durable).text)
}

/// Random deliveries, except that any in flight are all delivered: then every edit is made on the
/// same client document whichever way the room loaded, so the results must be equal.
fn without_random_deliveries(steps: &[Step]) -> Vec<Step> {
    (steps.iter())
        .map(|step| match step {
            Step::Deliver { .. } => Step::Settle,
            other => other.clone(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever happens, a room that held its snapshot unapplied ends where one that applied it
    /// on load ends: same document, every client holding it, and all of it durable.
    #[test]
    fn an_unapplied_room_ends_where_an_applied_one_does(steps in proptest::collection::vec(step(), 0..40)) {
        let steps = without_random_deliveries(&steps);
        let snapshot = stored_snapshot();
        let (applied, unapplied) = applied_and_unapplied(&snapshot);
        let expected = run(applied, &snapshot, &steps);
        let got = run(unapplied, &snapshot, &steps);
        prop_assert_eq!(&got, &expected);
        for client in &got.1 {
            prop_assert_eq!(client, &got.0);
        }
        prop_assert_eq!(&got.2, &got.0, "everything the room holds is persisted");
    }

    /// Frames delivered in any order: clients converge on the room's document and all of it is
    /// durable (which document depends on the order, as with any room).
    #[test]
    fn an_unapplied_room_converges_and_stores_everything(steps in proptest::collection::vec(step(), 0..40)) {
        let snapshot = stored_snapshot();
        let (_, unapplied) = applied_and_unapplied(&snapshot);
        let (room, clients, durable) = run(unapplied, &snapshot, &steps);
        for client in &clients {
            prop_assert_eq!(client, &room);
        }
        prop_assert_eq!(&durable, &room, "everything the room holds is persisted");
    }
}
