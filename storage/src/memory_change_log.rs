//! The in-memory [`ChangeLog`], for tests and ephemeral servers: the same rules as the sled one,
//! under one mutex, which makes every operation atomic.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::change_log::{ChangeLog, EventRange, PendingChange, PendingKind, Settle, StoredEvent};
use crate::error::StoreError;

/// The change log in process memory.
#[derive(Default)]
pub(crate) struct MemoryChangeLog {
    state: Mutex<ChangeState>,
}

#[derive(Default)]
struct ChangeState {
    events: BTreeMap<u64, Vec<u8>>,
    /// (kind, document) -> ((created, deleted), mark).
    pending: BTreeMap<(PendingKind, String), ((bool, bool), u64)>,
    cursors: HashMap<String, u64>,
    range: EventRange,
}

impl MemoryChangeLog {
    fn state(&self) -> MutexGuard<'_, ChangeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the flags `(created, deleted)` (kept with those already set) and `mark`.
    fn add_flags(&self, kind: PendingKind, document: &str, flags: (bool, bool), mark: u64) {
        let mut state = self.state();
        let entry = state
            .pending
            .entry((kind, document.to_owned()))
            .or_insert(((false, false), mark));
        *entry = ((entry.0.0 || flags.0, entry.0.1 || flags.1), mark);
    }
}

impl ChangeLog for MemoryChangeLog {
    fn mark_pending(&self, changes: &[(&str, bool)], mark: u64) -> Result<(), StoreError> {
        for (document, created) in changes {
            self.add_flags(PendingKind::Change, document, (*created, false), mark);
        }
        Ok(())
    }

    fn mark_deleting(&self, document: &str, mark: u64) -> Result<(), StoreError> {
        self.add_flags(PendingKind::Change, document, (false, true), mark);
        Ok(())
    }

    fn mark_versioning(&self, document: &str, mark: u64) -> Result<(), StoreError> {
        self.add_flags(PendingKind::Version, document, (false, false), mark);
        Ok(())
    }

    fn pending_changes(&self) -> Result<Vec<PendingChange>, StoreError> {
        Ok(self
            .state()
            .pending
            .iter()
            .map(
                |((kind, document), ((created, deleted), mark))| PendingChange {
                    document: document.clone(),
                    kind: *kind,
                    created: *created,
                    deleted: *deleted,
                    mark: *mark,
                },
            )
            .collect())
    }

    fn append_events(
        &self,
        payloads: &[Vec<u8>],
        settle: Option<Settle<'_>>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut state = self.state();
        let mut sequences = Vec::with_capacity(payloads.len());
        for payload in payloads {
            state.range.last += 1;
            let sequence = state.range.last;
            state.events.insert(sequence, payload.clone());
            sequences.push(sequence);
        }
        if let Some(settle) = settle {
            let key = (settle.kind, settle.document.to_owned());
            if state
                .pending
                .get(&key)
                .is_some_and(|(_, current)| *current == settle.mark)
            {
                state.pending.remove(&key);
            }
        }
        Ok(sequences)
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(self
            .state()
            .events
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(sequence, payload)| StoredEvent {
                sequence: *sequence,
                payload: payload.clone(),
            })
            .collect())
    }

    fn event_range(&self) -> Result<EventRange, StoreError> {
        Ok(self.state().range)
    }

    fn trim_events(&self, through: u64) -> Result<(), StoreError> {
        let mut state = self.state();
        let through = through.min(state.range.last);
        if through <= state.range.trimmed_through {
            return Ok(());
        }
        state.events = state.events.split_off(&(through + 1));
        state.range.trimmed_through = through;
        Ok(())
    }

    fn delivered_through(&self, subscriber: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.state().cursors.get(subscriber).copied())
    }

    fn set_delivered_through(&self, subscriber: &str, through: u64) -> Result<(), StoreError> {
        self.state().cursors.insert(subscriber.to_owned(), through);
        Ok(())
    }
}
