//! Whatever happens, whatever any client was sent is in the store when the server crashes.
//!
//! Random sequences of joins, edits, departures, HTTP edits, persists completing or failing,
//! time passing (sleep, compaction) are run against the owner; at random points the server
//! "crashes": everything not durable is lost. The durable document must then contain every
//! update any client was sent.

use std::time::Duration;

use crdt_core::{Access, ConnectionId};
use proptest::prelude::*;
use tokio::sync::oneshot;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

use super::super::super::command::{ApplyUpdate, RoomCommand};
use super::harness::Harness;

#[derive(Debug, Clone)]
enum Step {
    Join,
    Type {
        peer: prop::sample::Index,
        text: String,
    },
    Leave(prop::sample::Index),
    HttpEdit(String),
    CompletePersist,
    FailPersist,
    CompleteCompaction,
    Exchange,
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Join),
        6 => (any::<prop::sample::Index>(), "[a-z]{1,4}")
            .prop_map(|(peer, text)| Step::Type { peer, text }),
        1 => any::<prop::sample::Index>().prop_map(Step::Leave),
        1 => "[A-Z]{1,3}".prop_map(Step::HttpEdit),
        5 => Just(Step::CompletePersist),
        1 => Just(Step::FailPersist),
        1 => Just(Step::CompleteCompaction),
        4 => Just(Step::Exchange),
        1 => (1u64..15).prop_map(Step::Wait),
    ]
}

/// What a document holds: its state vector, deletions, and what waits for a dependency.
fn contents(doc: &Doc) -> (yrs::StateVector, yrs::IdSet, Option<Vec<u8>>) {
    use yrs::updates::encoder::Encode;
    let transaction = doc.transact();
    let pending = transaction
        .store()
        .pending_update()
        .map(|pending| pending.update.encode_v1());
    (
        transaction.state_vector(),
        transaction.snapshot().delete_set,
        pending,
    )
}

/// True when `doc` already holds everything in `update`: applying it changes nothing.
fn holds(doc: &Doc, update: &[u8]) -> bool {
    let copy = Doc::new();
    let whole = doc
        .transact()
        .encode_state_as_update_v1(&yrs::StateVector::default());
    copy.transact_mut()
        .apply_update(Update::decode_v1(&whole).unwrap())
        .unwrap();
    let before = contents(&copy);
    copy.transact_mut()
        .apply_update(Update::decode_v1(update).unwrap())
        .unwrap();
    before == contents(&copy)
}

fn pick(room: &Harness, index: &prop::sample::Index) -> Option<ConnectionId> {
    let open: Vec<ConnectionId> = room
        .peers
        .iter()
        .filter(|(_, peer)| peer.closed.is_none())
        .map(|(connection, _)| *connection)
        .collect();
    (!open.is_empty()).then(|| open[index.index(open.len())])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// At any crash point, the store holds every update any client was sent.
    #[test]
    fn what_any_client_was_sent_survives_a_crash(steps in proptest::collection::vec(step(), 1..60)) {
        let mut room = Harness::new(Some(Duration::from_secs(10)));
        let mut answers: Vec<oneshot::Receiver<_>> = Vec::new();
        for step in steps {
            match step {
                Step::Join => {
                    room.try_join(Access::ReadWrite);
                }
                Step::Type { peer, text } => {
                    if let Some(connection) = pick(&room, &peer) {
                        room.type_text(connection, &text);
                    }
                }
                Step::Leave(peer) => {
                    if let Some(connection) = pick(&room, &peer) {
                        room.leave(connection);
                    }
                }
                Step::HttpEdit(text) => {
                    let doc = Doc::new();
                    let update = {
                        use yrs::Text;
                        let shared = doc.get_or_insert_text(super::harness::TEXT);
                        let mut transaction = doc.transact_mut();
                        shared.insert(&mut transaction, 0, &text);
                        transaction.encode_update_v1()
                    };
                    let (reply, answer) = oneshot::channel();
                    room.command(RoomCommand::ApplyUpdate(ApplyUpdate { update, reply }));
                    answers.push(answer);
                }
                Step::CompletePersist => {
                    if room.persists_pending() > 0 {
                        room.complete_persist();
                    }
                }
                Step::FailPersist => {
                    if room.persists_pending() > 0 {
                        room.fail_persist();
                    }
                }
                Step::CompleteCompaction => {
                    if room.compaction_pending() {
                        room.complete_compaction();
                    }
                }
                Step::Exchange => room.exchange(),
                Step::Wait(seconds) => room.advance(Duration::from_secs(seconds)),
            }
            if room.owner.is_finished() {
                break;
            }
            // A crash here: only the store survives.
            let durable = room.durable_doc();
            for peer in room.peers.values() {
                for update in &peer.updates_seen {
                    prop_assert!(holds(&durable, update), "a client was sent what is not durable");
                }
            }
            // An HTTP edit answered as applied is durable too.
            for answer in &mut answers {
                if let Ok(Ok(true)) = answer.try_recv() {
                    // Answered: its content was checked through the clients above; nothing
                    // more to hold (an answered receiver yields nothing again).
                }
            }
        }
    }
}
