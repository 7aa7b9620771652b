//! Durable before visible: effects held behind the persists they depend on.
//!
//! Each batch of commands that changed the document becomes one persist, and everything the
//! batch decided (frames to clients, answers, receipts, relays) is held until that persist is
//! durable. Persists complete in the order they were asked (one writer), so held batches are
//! released from the front, in order; a batch that changed nothing waits behind the last one
//! that did, since what it shows may depend on it. Persists are not held: the store sees a
//! batch's updates at once, while the room goes on with the next batch (at most
//! [`MAX_PERSISTS_IN_FLIGHT`] behind).
//!
//! A failed persist is not retried as if a later flush could vouch for it (after a failed
//! `fsync` the kernel may have dropped the data): the owner persists the whole document again
//! as a recovery batch, and the failed batches are released only once that is durable.

use std::collections::VecDeque;

use crdt_core::ConnectionId;

use super::super::command::{EditError, ExportError};
use super::super::effect::{Answer, BatchId, Effect};

/// Persists a room may have in flight before it stops taking commands.
pub(crate) const MAX_PERSISTS_IN_FLIGHT: usize = 4;

/// How a held batch's persist stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Pending,
    Durable,
    /// Failed: released once a later recovery batch is durable.
    Failed,
}

struct Held {
    batch: BatchId,
    durability: Durability,
    /// Bytes of updates it persists.
    bytes: u64,
    effects: Vec<Effect>,
    /// Connections whose frames changed the document in this batch.
    writers: Vec<ConnectionId>,
}

/// Effects ready to carry out, and effects held behind persists.
#[derive(Default)]
pub(super) struct Pipeline {
    ready: VecDeque<Effect>,
    held: VecDeque<Held>,
    next_batch: u64,
    /// The recovery batch persisting the whole document after a failure, if one is in flight.
    recovery: Option<BatchId>,
}

/// What a failed persist means for the owner.
pub(super) struct Failure {
    /// Writers of the failed batch, to be closed.
    pub(super) writers: Vec<ConnectionId>,
    /// The batch was the recovery batch itself: the room cannot make its document durable.
    pub(super) recovery_failed: bool,
    /// A recovery batch is needed (none is in flight yet).
    pub(super) needs_recovery: bool,
}

impl Pipeline {
    /// The next effect to carry out.
    pub(super) fn pop(&mut self) -> Option<Effect> {
        self.ready.pop_front()
    }

    /// Puts `effect` before everything else ready (a connection that must be closed now).
    pub(super) fn push_urgent(&mut self, effect: Effect) {
        self.ready.push_front(effect);
    }

    /// Adds effects that need no persist of their own: ready now, or held behind the last
    /// persist in flight.
    pub(super) fn push(&mut self, effects: impl IntoIterator<Item = Effect>) {
        match self.held.back_mut() {
            Some(held) => held.effects.extend(effects),
            None => self.ready.extend(effects),
        }
    }

    /// Asks for `updates` to be persisted, holding `effects` until they are durable.
    pub(super) fn persist(
        &mut self,
        updates: Vec<bytes::Bytes>,
        effects: Vec<Effect>,
        writers: Vec<ConnectionId>,
    ) -> BatchId {
        let batch = BatchId(self.next_batch);
        self.next_batch += 1;
        let bytes = updates.iter().map(|update| update.len() as u64).sum();
        self.ready.push_back(Effect::Persist { batch, updates });
        self.held.push_back(Held {
            batch,
            durability: Durability::Pending,
            bytes,
            effects,
            writers,
        });
        batch
    }

    /// Asks for the whole document (`state`) to be persisted after a failure.
    pub(super) fn persist_recovery(&mut self, state: bytes::Bytes) -> BatchId {
        let batch = self.persist(vec![state], Vec::new(), Vec::new());
        self.recovery = Some(batch);
        batch
    }

    /// Queues `effect` to be carried out now, ahead of what waits behind persists (it depends on
    /// none of them: a publication of what is durable already).
    pub(super) fn push_now(&mut self, effect: Effect) {
        self.ready.push_back(effect);
    }

    /// Persists in flight.
    pub(super) fn in_flight(&self) -> usize {
        self.held.len()
    }

    /// Bytes of updates not yet known durable: the document size limit counts them as stored.
    pub(super) fn bytes_in_flight(&self) -> u64 {
        self.held
            .iter()
            .filter(|held| held.durability == Durability::Pending)
            .map(|held| held.bytes)
            .sum()
    }

    /// True when nothing is held and nothing is ready.
    pub(super) fn is_empty(&self) -> bool {
        self.held.is_empty() && self.ready.is_empty()
    }

    /// True when nothing is held behind a persist.
    pub(super) fn is_settled(&self) -> bool {
        self.held.is_empty()
    }

    /// `batch` is durable: releases what it, and the batches before it, held.
    pub(super) fn handle_durable(&mut self, batch: BatchId) {
        if let Some(held) = self.held.iter_mut().find(|held| held.batch == batch) {
            held.durability = Durability::Durable;
        }
        if self.recovery == Some(batch) {
            // The whole document, failed batches included, is durable now.
            self.recovery = None;
            for held in &mut self.held {
                if held.batch < batch && held.durability == Durability::Failed {
                    held.durability = Durability::Durable;
                }
            }
        }
        while self
            .held
            .front()
            .is_some_and(|held| held.durability == Durability::Durable)
        {
            let held = self.held.pop_front().expect("checked above");
            self.ready.extend(held.effects);
        }
    }

    /// `batch` failed: its edits are answered with `error` at once, its writers must be closed,
    /// and the rest of what it held waits for a recovery batch.
    pub(super) fn handle_failed(&mut self, batch: BatchId, error: &str) -> Failure {
        let mut writers = Vec::new();
        if let Some(held) = self.held.iter_mut().find(|held| held.batch == batch) {
            held.durability = Durability::Failed;
            writers = std::mem::take(&mut held.writers);
            let (edits, others): (Vec<Effect>, Vec<Effect>) = std::mem::take(&mut held.effects)
                .into_iter()
                .partition(|effect| matches!(effect, Effect::Answer(Answer::Edited(..))));
            held.effects = others;
            for edit in edits {
                if let Effect::Answer(Answer::Edited(reply, _)) = edit {
                    let failed = Err(EditError::Storage(error.to_owned()));
                    self.ready
                        .push_back(Effect::Answer(Answer::Edited(reply, failed)));
                }
            }
        }
        Failure {
            writers,
            recovery_failed: self.recovery == Some(batch),
            needs_recovery: self.recovery.is_none(),
        }
    }

    /// The recovery batch failed too: nothing held may be shown any more. Every held effect is
    /// dropped except answers, which are told of the failure (an export made from the document
    /// as it was would show what is not durable).
    pub(super) fn abandon(&mut self, error: &str) {
        self.recovery = None;
        for held in self.held.drain(..) {
            for effect in held.effects {
                let answer = match effect {
                    Effect::Answer(Answer::Edited(reply, _)) => {
                        Answer::Edited(reply, Err(EditError::Storage(error.to_owned())))
                    }
                    Effect::Answer(Answer::Exported(reply, _)) => {
                        Answer::Exported(reply, Err(ExportError::Unavailable(error.to_owned())))
                    }
                    Effect::Answer(answer) => answer,
                    _ => continue,
                };
                self.ready.push_back(Effect::Answer(answer));
            }
        }
    }
}
