//! The room owner's promises, tested without sockets (see `harness`): durable before visible,
//! order, failed persists, sleep/wake/retire races, compaction under edits, restores.

mod cluster;
mod harness;
mod peers;
mod properties;

use std::time::Duration;

use crdt_core::Access;
use tokio::sync::oneshot;

use super::super::command::{
    ApplyUpdate, Delete, EditError, Export, ExportRequest, Exported, Restore, RoomCommand,
};
use crate::close_code;
use harness::{Harness, Seen};

/// An update that appends `text` to the document `base` (a v1 update of a whole document).
fn appended(base: &yrs::Doc, text: &str) -> Vec<u8> {
    use yrs::{Text, Transact};
    let shared = base.get_or_insert_text(harness::TEXT);
    let mut transaction = base.transact_mut();
    let end = shared.len(&transaction);
    shared.insert(&mut transaction, end, text);
    transaction.encode_update_v1()
}

#[test]
fn nothing_a_batch_changed_is_shown_before_it_is_durable() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    let bob = room.join(Access::ReadWrite);
    room.type_text(alice, "hello");
    room.exchange();
    assert_eq!(room.persists_pending(), 1);
    assert_eq!(
        room.peers[&bob].text(),
        "",
        "bob saw an update before it was durable"
    );

    // A joiner meanwhile is not shown it either: its admission waits behind the persist.
    assert_eq!(room.try_join(Access::ReadWrite), None);
    assert_eq!(room.durable_text(), "");

    room.complete_persists();
    room.exchange();
    let carol = *room.peers.keys().last().unwrap();
    assert_eq!(room.durable_text(), "hello");
    assert_eq!(room.peers[&bob].text(), "hello");
    assert_eq!(room.peers[&carol].text(), "hello");
}

#[test]
fn an_http_edit_is_answered_only_once_durable_and_sent() {
    let mut room = Harness::new(None);
    let bob = room.join(Access::ReadWrite);
    let (reply, mut answer) = oneshot::channel();
    let update = appended(&yrs::Doc::new(), "from the API");
    room.command(RoomCommand::ApplyUpdate(ApplyUpdate { update, reply }));
    assert!(answer.try_recv().is_err(), "answered before durable");
    room.complete_persists();
    assert!(answer.try_recv().expect("answered").expect("applied"));
    room.exchange();
    assert_eq!(room.peers[&bob].text(), "from the API");
}

#[test]
fn updates_arrive_once_each_and_in_order_across_pipelined_batches() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    let bob = room.join(Access::ReadWrite);
    let seen_at_join = room.peers[&bob].updates_seen.len();
    for word in ["one ", "two ", "three "] {
        room.type_text(alice, word);
    }
    // Three batches in flight at once; none shown yet.
    assert_eq!(room.persists_pending(), 3);
    room.exchange();
    assert_eq!(room.peers[&bob].updates_seen.len(), seen_at_join);
    room.complete_persist();
    room.exchange();
    assert_eq!(room.peers[&bob].text(), "one ");
    room.complete_persists();
    room.exchange();
    let bob_peer = &room.peers[&bob];
    assert_eq!(bob_peer.text(), "one two three ");
    // Exactly one update per batch, nothing pending in bob's document.
    assert_eq!(bob_peer.updates_seen.len(), seen_at_join + 3);
    use yrs::{ReadTxn, Transact};
    assert!(
        bob_peer
            .sync
            .doc()
            .transact()
            .store()
            .pending_update()
            .is_none()
    );
}

#[test]
fn the_room_stops_taking_commands_with_too_many_persists_in_flight() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    for index in 0..super::MAX_PERSISTS_IN_FLIGHT {
        assert!(room.owner.wants_commands(), "refused after {index}");
        room.type_text(alice, "x");
    }
    assert!(!room.owner.wants_commands());
    room.complete_persist();
    assert!(room.owner.wants_commands());
}

#[test]
fn a_failed_persist_closes_exactly_its_writers_and_shows_nothing_until_recovered() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    let bob = room.join(Access::ReadWrite);
    let reader = room.join(Access::ReadWrite);
    room.type_text(alice, "a");
    room.type_text(bob, "b");
    // An HTTP edit rides in a batch of its own, after them.
    let (reply, mut answer) = oneshot::channel();
    let update = appended(&yrs::Doc::new(), "c");
    room.command(RoomCommand::ApplyUpdate(ApplyUpdate { update, reply }));
    assert_eq!(room.persists_pending(), 3);

    room.fail_persist();
    room.exchange();
    assert_eq!(
        room.peers[&alice].closed.as_ref().map(|reason| reason.code),
        Some(close_code::STORAGE_UNAVAILABLE)
    );
    assert!(
        room.peers[&bob].closed.is_none(),
        "bob's update was in a later batch"
    );
    assert!(room.peers[&reader].closed.is_none());
    assert_eq!(room.peers[&reader].text(), "", "shown before recovery");

    // The later batches land, then the recovery: the whole document, persisted again.
    room.complete_persists();
    room.exchange();
    assert!(
        room.durable_text().contains('a'),
        "recovery persisted alice's update"
    );
    assert!(room.durable_text().contains('b') && room.durable_text().contains('c'));
    assert_eq!(room.peers[&reader].text(), room.durable_text());
    assert!(answer.try_recv().expect("answered").expect("applied"));
}

#[test]
fn a_failed_recovery_closes_everyone_and_answers_what_waits() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    let reader = room.join(Access::ReadWrite);
    room.type_text(alice, "lost");
    let (reply, mut answer) = oneshot::channel();
    room.command(RoomCommand::Export(Export {
        request: ExportRequest::StateVector,
        reply,
    }));
    room.fail_persist();
    room.fail_persist();
    room.exchange();
    assert!(room.peers[&reader].closed.is_some());
    assert_eq!(room.peers[&reader].text(), "");
    assert!(answer.try_recv().expect("answered").is_err());
    assert!(room.seen.contains(&Seen::Removed));
    assert!(room.owner.is_finished());
}

#[test]
fn a_quiet_room_compacts_sleeps_and_wakes_for_a_joiner_with_ids_kept() {
    let idle = Duration::from_secs(10);
    let mut room = Harness::new(Some(idle));
    let alice = room.join(Access::ReadWrite);
    room.type_text(alice, "kept");
    room.complete_persists();
    room.exchange();
    room.advance(idle);
    assert!(room.compaction_pending(), "compacts before sleeping");
    room.complete_compaction();
    assert!(room.seen.contains(&Seen::Sleep));
    assert!(!room.owner.is_awake());

    // A joiner wakes it; alice keeps her id, the joiner gets the next one and the document.
    room.hold_loads = true;
    let (join, mut joined, mut peer) = room.join_command(Access::ReadWrite);
    room.command(join);
    assert!(room.seen.contains(&Seen::Wake));
    assert!(
        joined.try_recv().is_err(),
        "answered before the document loaded"
    );
    room.hold_loads = false;
    room.complete_load();
    let carol = joined.try_recv().unwrap().unwrap();
    assert!(carol > alice);
    peer.sync.handle_connected();
    room.peers.insert(carol, peer);
    room.exchange();
    assert_eq!(room.peers[&carol].text(), "kept");
    room.type_text(alice, "!");
    room.complete_persists();
    room.exchange();
    assert_eq!(room.peers[&carol].text(), "kept!");
}

#[test]
fn a_departure_while_asleep_needs_no_document_and_the_last_one_retires() {
    let idle = Duration::from_secs(10);
    let mut room = Harness::new(Some(idle));
    let alice = room.join(Access::ReadWrite);
    let bob = room.join(Access::ReadWrite);
    room.advance(idle);
    assert!(room.seen.contains(&Seen::Sleep));
    room.hold_loads = true;
    room.leave(alice);
    assert!(!room.seen.contains(&Seen::Wake));
    room.leave(bob);
    assert!(room.seen.contains(&Seen::Retire));
    assert!(room.owner.is_finished());
}

#[test]
fn a_retirement_raced_by_a_command_goes_on_and_retires_later() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    room.command_waiting_at_retire = true;
    room.leave(alice);
    assert!(room.seen.contains(&Seen::Retire));
    assert!(!room.owner.is_finished(), "a command was waiting");
    // The command that was waiting: a joiner, served by the same room.
    let bob = room.join(Access::ReadWrite);
    room.type_text(bob, "still here");
    room.complete_persists();
    room.leave(bob);
    assert!(room.compaction_pending(), "the last one out compacts");
    room.complete_compaction();
    assert!(room.owner.is_finished());
    assert_eq!(room.durable_text(), "still here");
}

#[test]
fn a_join_that_reaches_a_retired_room_goes_to_a_fresh_one_but_reads_are_served() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    room.type_text(alice, "text");
    room.complete_persists();
    room.leave(alice);
    room.complete_compaction();
    assert!(room.owner.is_finished());
    let (join, mut joined, _) = room.join_command(Access::ReadWrite);
    let (reply, mut exported) = oneshot::channel();
    let export = RoomCommand::Export(Export {
        request: ExportRequest::StateVector,
        reply,
    });
    room.commands(vec![join, export]);
    assert!(
        matches!(joined.try_recv(), Err(oneshot::error::TryRecvError::Closed)),
        "the joiner is sent elsewhere"
    );
    assert!(matches!(exported.try_recv(), Ok(Ok(Exported::Binary(_)))));
}

#[test]
fn compaction_while_edits_arrive_keeps_the_later_edits() {
    let idle = Duration::from_secs(10);
    let mut room = Harness::new(Some(idle));
    let alice = room.join(Access::ReadWrite);
    room.type_text(alice, "before ");
    room.complete_persists();
    room.advance(idle);
    assert!(room.compaction_pending());
    // Edits arrive and become durable while the compaction is in flight.
    room.type_text(alice, "during");
    room.complete_persists();
    room.complete_compaction();
    assert!(!room.seen.contains(&Seen::Sleep), "not idle any more");
    assert_eq!(room.durable_text(), "before during");
}

#[test]
fn a_restore_during_edits_follows_them_and_is_durable_before_answered() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    let bob = room.join(Access::ReadWrite);
    let version = {
        let doc = yrs::Doc::new();
        let _ = appended(&doc, "the version");
        use yrs::{ReadTxn, Transact};
        doc.transact()
            .encode_state_as_update_v1(&yrs::StateVector::default())
    };
    room.type_text(alice, "draft");
    let (reply, mut answer) = oneshot::channel();
    room.command(RoomCommand::Restore(Restore {
        content: version,
        reply,
    }));
    room.type_text(alice, "?");
    assert!(answer.try_recv().is_err());
    room.complete_persists();
    room.exchange();
    assert!(answer.try_recv().unwrap().unwrap());
    assert_eq!(room.peers[&bob].text(), room.durable_text());
    let text = room.durable_text();
    assert!(
        text.contains("the version") && !text.contains("draft"),
        "{text:?}"
    );
}

#[test]
fn a_delete_closes_everyone_waits_for_persists_and_refuses_joins_meanwhile() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    room.type_text(alice, "gone soon");
    let (reply, mut answer) = oneshot::channel();
    room.command(RoomCommand::Delete(Delete { reply }));
    let (join, mut joined, _) = room.join_command(Access::ReadWrite);
    room.command(join);
    assert!(
        answer.try_recv().is_err(),
        "deleted before the persist finished"
    );
    room.complete_persists();
    assert_eq!(
        joined.try_recv().unwrap().unwrap_err().code,
        close_code::TRY_AGAIN_LATER
    );
    room.complete_delete();
    room.exchange();
    assert_eq!(answer.try_recv().unwrap(), Ok(true));
    assert_eq!(
        room.peers[&alice].closed.as_ref().map(|reason| reason.code),
        Some(close_code::DOCUMENT_DELETED)
    );
    assert!(room.owner.is_finished());
}

#[test]
fn a_failed_load_refuses_the_waiting_joiners_and_the_room_leaves() {
    let mut room = Harness::loading();
    let (join, mut joined, _) = room.join_command(Access::ReadWrite);
    room.command(join);
    assert!(joined.try_recv().is_err(), "answered before the load");
    room.fail_load();
    assert_eq!(
        joined.try_recv().unwrap().unwrap_err().code,
        close_code::INTERNAL_ERROR
    );
    assert!(room.seen.contains(&Seen::Removed));
    assert!(room.owner.is_finished());
}

#[test]
fn a_client_whose_queue_is_full_is_closed_before_anything_else() {
    let mut room = Harness::new(None);
    room.queue_frames = 2;
    let slow = room.join(Access::ReadWrite);
    room.queue_frames = 1024;
    let alice = room.join(Access::ReadWrite);
    for word in ["1", "2", "3", "4"] {
        room.type_text(alice, word);
        room.complete_persists();
    }
    let slow_closed = room
        .seen
        .contains(&Seen::Closed(slow, close_code::SLOW_CONSUMER));
    assert!(slow_closed, "{:?}", room.seen);
    room.exchange();
    assert!(room.peers[&slow].closed.is_some());
}

#[test]
fn a_v2_export_yrs_cannot_make_is_refused_and_the_room_goes_on() {
    // A genuine Yjs update delivered out of order: it waits for clocks 0..23 of its client, and
    // its deletions wait with it. Peers can no longer leave one inside yrs (the room holds such
    // updates until what they build on arrives), but a store written before may hold one, and
    // yrs 0.28 panics encoding such a document as v2.
    let waiting = [
        0x01, 0x01, 0x07, 0x17, 0x04, 0x01, 0x01, 0x74, 0x01, 0x21, 0x01, 0x07, 0x01, 0x03, 0x02,
    ];
    let store = storage::MemoryStore::new();
    storage::DocStore::append(&store, "doc", &waiting).unwrap();
    let mut room = Harness::over(store, None);
    let alice = room.join(Access::ReadWrite);
    let export = |format| {
        let (reply, answer) = oneshot::channel();
        let request = ExportRequest::Document {
            format,
            kind: storage::DocumentKind::Text,
            since: None,
            root_name: None,
        };
        (RoomCommand::Export(Export { request, reply }), answer)
    };
    let (command, mut answer) = export(crdt_core::export::ExportFormat::UpdateV2);
    room.command(command);
    assert!(matches!(
        answer.try_recv().unwrap(),
        Err(super::super::command::ExportError::Unavailable(_))
    ));
    let (command, mut answer) = export(crdt_core::export::ExportFormat::Update);
    room.command(command);
    assert!(matches!(
        answer.try_recv().unwrap(),
        Ok(Exported::Binary(_))
    ));
    room.type_text(alice, "still editing");
    room.complete_persists();
    assert!(room.durable_text().contains("still editing"));
}

/// While storage takes no writes, an edit is refused at once with 4503 and never applied, a
/// reader still joins and syncs, and an HTTP edit is told why; once space is back, edits are
/// taken again.
#[test]
fn edits_are_refused_while_storage_takes_no_writes_and_reads_go_on() {
    let mut room = Harness::new(None);
    let alice = room.join(Access::ReadWrite);
    room.type_text(alice, "kept");
    room.exchange();
    room.complete_persists();
    room.exchange();

    assert!(!room.storage_health.admit_batch(Some(0), 0), "out of space");
    room.type_text(alice, " refused");
    room.exchange();
    assert_eq!(
        room.peers[&alice].closed.as_ref().map(|reason| reason.code),
        Some(close_code::STORAGE_UNAVAILABLE)
    );
    assert_eq!(room.persists_pending(), 0, "nothing reached the writer");

    // A reader's answer to the room's SyncStep1 brings nothing new, and passes.
    let reader = room.join(Access::ReadWrite);
    room.exchange();
    assert!(room.peers[&reader].closed.is_none());
    assert_eq!(room.peers[&reader].text(), "kept");

    let (reply, mut answer) = oneshot::channel();
    let update = appended(&yrs::Doc::new(), "over HTTP");
    room.command(RoomCommand::ApplyUpdate(ApplyUpdate { update, reply }));
    assert!(matches!(
        answer.try_recv(),
        Ok(Err(EditError::StorageUnavailable(_)))
    ));

    room.storage_health.probe(u64::MAX);
    room.type_text(reader, "!");
    room.exchange();
    room.complete_persists();
    room.exchange();
    assert_eq!(room.durable_text(), "kept!");
    assert!(room.peers[&reader].closed.is_none());
}
