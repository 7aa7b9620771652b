//! Updates that arrive before what they build on wait outside yrs, and are applied, stored and
//! sent once the room has it.

use crdt_core::wire::decode_frame;
use crdt_core::{Access, MAX_WAITING_UPDATES, Outgoing, ProtocolError, Room};
use yrs::sync::{Message, SyncMessage};
use yrs::{Doc, GetString, Text, Transact};

fn update_frame(update: &[u8]) -> Vec<u8> {
    crdt_core::wire::encode_update_frame(update).to_vec()
}

fn typed(doc: &Doc, text: &str) -> Vec<u8> {
    let shared = doc.get_or_insert_text("text");
    let mut transaction = doc.transact_mut();
    let end = shared.len(&transaction);
    shared.insert(&mut transaction, end, text);
    transaction.encode_update_v1()
}

/// Persisted updates and broadcast frames, in order.
fn drain(room: &mut Room) -> (Vec<Vec<u8>>, usize) {
    let mut persisted = Vec::new();
    let mut broadcasts = 0;
    while let Some(effect) = room.poll_outgoing() {
        match effect {
            Outgoing::Persist { update } => persisted.push(update.to_vec()),
            // This room shares its document with no peer server.
            Outgoing::ToPeers { .. } => {}
            Outgoing::Broadcast { frame, .. } => {
                let messages = decode_frame(&frame).unwrap();
                if matches!(messages[0], Message::Sync(SyncMessage::Update(_))) {
                    broadcasts += 1;
                }
            }
            Outgoing::Reply { .. } => {}
        }
    }
    (persisted, broadcasts)
}

#[test]
fn an_edit_ahead_of_its_dependency_waits_then_both_apply_in_order() {
    // A client reconnecting with an offline edit types at once: the new edit reaches the room
    // before the SyncStep2 that carries the offline one.
    let writer = Doc::with_client_id(7);
    let offline = typed(&writer, "offline ");
    let typed_after = typed(&writer, "and after");
    let mut room = Room::new();
    let sender = room.handle_connect(Access::ReadWrite);
    let _reader = room.handle_connect(Access::ReadWrite);
    drain(&mut room);

    room.handle_frame(sender, &update_frame(&typed_after))
        .unwrap();
    let (persisted, broadcasts) = drain(&mut room);
    assert!(
        persisted.is_empty() && broadcasts == 0,
        "nothing is stored or sent yet"
    );
    assert_eq!(
        room.doc()
            .get_or_insert_text("text")
            .get_string(&room.doc().transact()),
        ""
    );
    assert!(
        room.members_if_idle().is_none(),
        "a room with waiting updates does not sleep"
    );

    room.handle_frame(sender, &update_frame(&offline)).unwrap();
    let (persisted, broadcasts) = drain(&mut room);
    assert_eq!(
        (persisted.len(), broadcasts),
        (2, 2),
        "both, the dependency first"
    );
    assert_eq!(persisted[0], offline);
    let text = room.doc().get_or_insert_text("text");
    assert_eq!(text.get_string(&room.doc().transact()), "offline and after");
    // The room's document holds nothing pending inside yrs.
    use yrs::ReadTxn;
    assert!(room.doc().transact().store().pending_update().is_none());
}

#[test]
fn a_departing_connection_takes_its_waiting_updates_with_it() {
    let writer = Doc::with_client_id(9);
    let first = typed(&writer, "a");
    let second = typed(&writer, "b");
    let mut room = Room::new();
    let sender = room.handle_connect(Access::ReadWrite);
    let other = room.handle_connect(Access::ReadWrite);
    room.handle_frame(sender, &update_frame(&second)).unwrap();
    room.handle_disconnect(sender);
    drain(&mut room);
    room.handle_frame(other, &update_frame(&first)).unwrap();
    let (persisted, _) = drain(&mut room);
    assert_eq!(
        persisted,
        vec![first],
        "the departed client's edit was dropped with it"
    );
}

#[test]
fn a_room_holds_a_bounded_number_of_waiting_updates() {
    let mut room = Room::new();
    let sender = room.handle_connect(Access::ReadWrite);
    // Each update from a client whose clock 0 never arrives.
    for client in 0..MAX_WAITING_UPDATES as u64 {
        let writer = Doc::with_client_id(1_000 + client);
        typed(&writer, "x");
        let second = typed(&writer, "y");
        room.handle_frame(sender, &update_frame(&second)).unwrap();
    }
    let writer = Doc::with_client_id(99_999);
    typed(&writer, "x");
    let one_more = typed(&writer, "y");
    assert!(matches!(
        room.handle_frame(sender, &update_frame(&one_more)),
        Err(ProtocolError::MissingDependencies)
    ));
}

#[test]
fn a_server_side_edit_missing_its_dependency_is_refused() {
    let writer = Doc::with_client_id(5);
    typed(&writer, "a");
    let second = typed(&writer, "b");
    let mut room = Room::new();
    assert!(matches!(
        room.handle_local_update(&second),
        Err(ProtocolError::MissingDependencies)
    ));
}
