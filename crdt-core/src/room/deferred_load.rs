//! A stored snapshot the room holds but has not applied to its document yet.
//!
//! Applying a long-edited document's snapshot in yrs takes milliseconds (7-9 ms for the
//! automerge-paper trace), yet the first thing a client joining a cold room asks for needs none of
//! it: the answer to a SyncStep1 with an empty state vector is the whole document, and the
//! snapshot as stored *is* the whole document. So a room loaded from one snapshot answers joiners
//! from the stored bytes at once and leaves the document empty until something needs it.
//!
//! Two things a joiner is owed do need more than the bytes: the room's own SyncStep1 (its state
//! vector) and the handling of the client's answer to it (a SyncStep2 that, from a client that just
//! synced, repeats what the room holds). Both need only the snapshot's state vector and delete set,
//! which decoding the update gives without integrating it (about a fifth of the cost); a room
//! computes them when its server is idle, after the joiner's answer has gone out. Anything that
//! may change or read the document applies the snapshot first, so no caller can see the document
//! empty.
//!
//! The snapshot sits behind a mutex because applying it is triggered through `&Room` too (a read
//! over HTTP borrows the room shared); nothing else ever takes that lock, so it is never contended.

use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use yrs::sync::{Message, SyncMessage};
use yrs::{Doc, IdSet, ReadTxn, StateVector, Transact, Update};

use crate::error::ProtocolError;
use crate::full_state::FullStateFrame;
use crate::pending::{PendingState, decode_update};
use crate::room::{ConnectionId, Outgoing, Room};
use crate::wire::encode_frame;

/// The stored snapshot a room has not applied yet, if any, and the joiners still owed the room's
/// SyncStep1.
#[derive(Default)]
pub(crate) struct DeferredLoad {
    pending: Mutex<Option<PendingSnapshot>>,
    owed_sync_step1: Vec<ConnectionId>,
}

struct PendingSnapshot {
    /// The snapshot as a SyncStep2 frame, what a client with an empty state vector is sent. The
    /// snapshot itself is the frame's tail, so it is held once.
    frame: Bytes,
    snapshot_len: usize,
    /// What the snapshot holds, once computed; `None` inside when it cannot stand in for the
    /// document (it does not decode, or waits for missing dependencies).
    summary: Option<Option<SnapshotSummary>>,
}

/// The parts of a whole-document snapshot that sync needs without the document.
struct SnapshotSummary {
    state_vector: StateVector,
    deletions: IdSet,
}

impl DeferredLoad {
    /// Holds `snapshot`, a whole document as one Yjs v1 update, unapplied.
    fn hold(&mut self, snapshot: &[u8]) {
        let frame = encode_frame(&Message::Sync(SyncMessage::SyncStep2(snapshot.to_vec())));
        *self.lock() = Some(PendingSnapshot {
            frame,
            snapshot_len: snapshot.len(),
            summary: None,
        });
    }

    /// Notes that `connection` is owed the room's SyncStep1, to be sent when the room is idle.
    pub(crate) fn owe_sync_step1(&mut self, connection: ConnectionId) {
        self.owed_sync_step1.push(connection);
    }

    /// True when some connection is owed the room's SyncStep1.
    pub(crate) fn owes_sync_step1(&self) -> bool {
        !self.owed_sync_step1.is_empty()
    }

    /// The connections owed the room's SyncStep1, in the order they asked; they are owed no more.
    pub(crate) fn take_owed_sync_step1(&mut self) -> Vec<ConnectionId> {
        std::mem::take(&mut self.owed_sync_step1)
    }

    /// True while a snapshot waits to be applied.
    pub(crate) fn is_pending(&self) -> bool {
        self.lock().is_some()
    }

    /// The SyncStep2 answering a client with an empty state vector, while the snapshot waits.
    pub(crate) fn full_state_frame(&self) -> Option<Bytes> {
        self.lock().as_ref().map(|pending| pending.frame.clone())
    }

    /// Applies the waiting snapshot, if any, to `doc` (the room's document, still empty), and
    /// hands its frame to `full_state` as the answer for joiners until the document changes.
    /// A snapshot that does not apply leaves the document as a failed stored record always has:
    /// with what did apply (see `Room::handle_stored_snapshot`).
    pub(crate) fn apply(&self, doc: &Doc, full_state: &FullStateFrame) {
        let mut pending = self.lock();
        let Some(snapshot) = pending.take() else {
            return;
        };
        let update = &snapshot.frame[snapshot.frame.len() - snapshot.snapshot_len..];
        let applied = decode_update(update).and_then(|update| {
            doc.transact_mut()
                .apply_update(update)
                .map_err(ProtocolError::UpdateRejected)
        });
        if applied.is_ok() {
            full_state.seed(doc, snapshot.frame);
        }
    }

    /// The snapshot's state vector without applying it; `None` when nothing waits or the snapshot
    /// cannot stand in for the document (then the caller applies it and asks the document).
    pub(crate) fn state_vector(&self) -> Option<StateVector> {
        let mut pending = self.lock();
        let summary = pending.as_mut()?.summary()?;
        Some(summary.state_vector.clone())
    }

    /// True when applying `update` to the waiting snapshot's document would change nothing: its
    /// blocks are all below the snapshot's state vector and its deletions all already in the
    /// snapshot. This is what a client that just synced answers the room's SyncStep1 with.
    /// False when nothing waits or the snapshot was not summarised yet (only an idle room
    /// summarises, so a busy one does not pay for decoding as well as applying).
    pub(crate) fn holds_all_of(&self, update: &Update) -> bool {
        let pending = self.lock();
        let Some(Some(Some(summary))) = pending.as_ref().map(|pending| pending.summary.as_ref())
        else {
            return false;
        };
        summary.holds_all_of(update)
    }

    fn lock(&self) -> MutexGuard<'_, Option<PendingSnapshot>> {
        // The slot is replaced whole; a panicking holder cannot leave it half-written.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Room {
    /// Holds a stored snapshot (one Yjs v1 update of a whole document) without applying it yet:
    /// a joiner with an empty state vector is sent it as stored, the room's SyncStep1 to a joiner
    /// waits for [`Room::handle_idle`], and anything that needs the document applies it first, so
    /// no caller sees the document without it. Nothing is persisted or sent. In a room that holds
    /// something already this is [`Room::handle_stored_snapshot`]. A snapshot that does not apply
    /// cannot be told from here: it fails when it is applied, as a stored record fails to load.
    pub fn handle_stored_snapshot_unapplied(
        &mut self,
        snapshot: &[u8],
    ) -> Result<(), ProtocolError> {
        let is_empty = !self.deferred.is_pending() && {
            let transaction = self.awareness.doc().transact();
            transaction.state_vector().is_empty()
                && PendingState::of(&transaction) == PendingState::NONE
        };
        if !is_empty {
            return self.handle_stored_snapshot(snapshot);
        }
        self.deferred.hold(snapshot);
        Ok(())
    }

    /// True when [`Room::handle_idle`] has work: a joiner is owed the room's SyncStep1.
    pub fn has_idle_work(&self) -> bool {
        self.deferred.owes_sync_step1()
    }

    /// The server has nothing else waiting: sends the room's SyncStep1 to the joiners owed one
    /// (read-write ones; see [`Room::handle_stored_snapshot_unapplied`]). A snapshot still held
    /// unapplied stays so: its state vector is read from the stored bytes, which costs a fraction
    /// of applying them.
    pub fn handle_idle(&mut self) {
        let owed: Vec<ConnectionId> = self
            .deferred
            .take_owed_sync_step1()
            .into_iter()
            .filter(|connection| self.access.contains_key(connection))
            .collect();
        if owed.is_empty() {
            return;
        }
        let state = self
            .deferred
            .state_vector()
            .unwrap_or_else(|| self.state_vector());
        // One encoding for every joiner owed it.
        let frame = encode_frame(&Message::Sync(SyncMessage::SyncStep1(state)));
        for to in owed {
            let frame = frame.clone();
            self.outgoing.push_back(Outgoing::Reply { to, frame });
        }
    }
}

impl PendingSnapshot {
    fn summary(&mut self) -> Option<&SnapshotSummary> {
        let update = &self.frame[self.frame.len() - self.snapshot_len..];
        self.summary
            .get_or_insert_with(|| SnapshotSummary::of(update))
            .as_ref()
    }
}

impl SnapshotSummary {
    /// The summary of a whole-document snapshot; `None` when it does not decode or holds anything
    /// a document would keep pending (blocks past a gap, deletions of unknown items), since then
    /// its document is not simply "every clock below the state vector".
    fn of(snapshot: &[u8]) -> Option<Self> {
        let update = decode_update(snapshot).ok()?;
        let state_vector = update.state_vector();
        let below_state = |set: &IdSet| {
            set.iter().all(|(client, ranges)| {
                let known = state_vector.get(client);
                ranges.iter().all(|range| range.end <= known)
            })
        };
        if !below_state(&update.insertions(true)) || !below_state(update.delete_set()) {
            return None;
        }
        let deletions = update.delete_set().clone();
        Some(SnapshotSummary {
            state_vector,
            deletions,
        })
    }

    fn holds_all_of(&self, update: &Update) -> bool {
        covers(&self.state_vector, &self.deletions, update)
    }
}

/// Whether a document at `state_vector` with `deletions` holds everything `update` brings.
pub(crate) fn covers(state_vector: &StateVector, deletions: &IdSet, update: &Update) -> bool {
    let blocks_known = update.insertions(true).iter().all(|(client, ranges)| {
        let known = state_vector.get(client);
        ranges.iter().all(|range| range.end <= known)
    });
    let deleted = update.delete_set();
    blocks_known
        && deleted.client_ids().all(|client| {
            let Some(deleted) = deleted.get(&client) else {
                return true;
            };
            match deletions.get(&client) {
                Some(known) => deleted.subset_of(known),
                None => deleted.is_empty(),
            }
        })
}
