//! The sled [`ChangeLog`]: one tree, `changes`, in the store's database, so the store's flush
//! covers it.
//!
//! Keys, one prefix byte per kind, so one transaction can append events and settle a pending
//! change atomically:
//!
//! ```text
//! 'e' ‖ sequence (u64 BE)  -> event payload
//! 'p' ‖ document id        -> flags (u8: 1 created, 2 deleted) ‖ mark (u64 BE)
//! 'v' ‖ document id        -> 0 (u8) ‖ mark (u64 BE): a version being created
//! 'c' ‖ subscriber         -> delivered through (u64 BE)
//! 't'                      -> trimmed through (u64 BE)
//! ```
//!
//! Event appends and trims are serialized by a mutex holding the range of events kept (read
//! from the tree once, at open), so events land in sequence order, a reader never sees a later
//! one before an earlier, and asking for the range reads no disk.

use std::sync::{Arc, Mutex, PoisonError};

use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::change_log::{ChangeLog, EventRange, PendingChange, PendingKind, Settle, StoredEvent};
use crate::error::StoreError;
use crate::sled_gate;
use crate::write_latch::WriteLatch;

const EVENT: u8 = b'e';
const PENDING: u8 = b'p';
const VERSIONING: u8 = b'v';
const CREATED: u8 = 1;
const DELETED: u8 = 2;
const CURSOR: u8 = b'c';
const TRIMMED: &[u8] = b"t";

/// The change log in its own tree.
pub(crate) struct SledChangeLog {
    tree: sled::Tree,
    /// The events kept; held while appending or trimming.
    range: Mutex<EventRange>,
    /// The store's: a failed write here stops the store's writes too, and the other way round
    /// (see `write_latch`: after one, sled's flush never returns).
    latch: Arc<WriteLatch>,
}

impl SledChangeLog {
    /// The change log in `database`'s `changes` tree, created if absent.
    pub(crate) fn open(database: &sled::Db, latch: Arc<WriteLatch>) -> Result<Self, StoreError> {
        let tree = database.open_tree("changes")?;
        let trimmed = read_number(&tree, TRIMMED, "trimmed-through")?;
        let newest = match tree.scan_prefix([EVENT]).keys().next_back() {
            Some(key) => sequence_of(&key?),
            None => 0,
        };
        Ok(SledChangeLog {
            tree,
            range: Mutex::new(EventRange {
                trimmed_through: trimmed,
                last: newest.max(trimmed),
            }),
            latch,
        })
    }
}

fn event_key(sequence: u64) -> [u8; 9] {
    let mut key = [EVENT; 9];
    key[1..].copy_from_slice(&sequence.to_be_bytes());
    key
}

fn prefixed(prefix: u8, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + name.len());
    key.push(prefix);
    key.extend_from_slice(name.as_bytes());
    key
}

fn sequence_of(key: &[u8]) -> u64 {
    key.get(1..9)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::ChangeLogCorrupt {
        what: what.to_owned(),
    }
}

fn read_number(tree: &sled::Tree, key: &[u8], what: &str) -> Result<u64, StoreError> {
    match tree.get(key)? {
        None => Ok(0),
        Some(raw) => decode_number(&raw).ok_or_else(|| corrupt(what)),
    }
}

fn decode_number(raw: &[u8]) -> Option<u64> {
    raw.try_into().ok().map(u64::from_be_bytes)
}

fn pending_key(kind: PendingKind, document: &str) -> Vec<u8> {
    match kind {
        PendingKind::Change => prefixed(PENDING, document),
        PendingKind::Version => prefixed(VERSIONING, document),
    }
}

fn encode_pending(flags: u8, mark: u64) -> [u8; 9] {
    let mut value = [flags; 9];
    value[1..].copy_from_slice(&mark.to_be_bytes());
    value
}

fn decode_pending(raw: &[u8]) -> Option<(u8, u64)> {
    let (&flags, mark) = raw.split_first()?;
    Some((flags, decode_number(mark)?))
}

fn from_transaction(error: TransactionError<StoreError>) -> StoreError {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => StoreError::Database(error),
    }
}

impl SledChangeLog {
    /// Runs one write of the log (a sled transaction or batch) as the store runs its batches:
    /// through the gate, since sled takes its global lock exclusively for both (`sled_gate`),
    /// and under the store's write latch.
    fn write<T>(&self, write: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _batch = sled_gate::enter_batch();
        self.latch.check()?;
        let written = self.latch.observe(write());
        self.latch.count_write();
        written
    }

    /// Sets `flags` (kept with those already set) and `mark` on each document's pending mark.
    fn add_flags(
        &self,
        kind: PendingKind,
        changes: &[(&str, u8)],
        mark: u64,
    ) -> Result<(), StoreError> {
        self.write(|| {
            self.tree
                .transaction(|tree| {
                    for (document, flags) in changes {
                        let key = pending_key(kind, document);
                        let kept = tree
                            .get(&key)?
                            .and_then(|raw| decode_pending(&raw))
                            .map_or(0, |(flags, _)| flags);
                        tree.insert(key, &encode_pending(flags | kept, mark)[..])?;
                    }
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                })
                .map_err(from_transaction)
        })
    }
}

impl ChangeLog for SledChangeLog {
    fn mark_pending(&self, changes: &[(&str, bool)], mark: u64) -> Result<(), StoreError> {
        let flagged: Vec<(&str, u8)> = changes
            .iter()
            .map(|(document, created)| (*document, if *created { CREATED } else { 0 }))
            .collect();
        self.add_flags(PendingKind::Change, &flagged, mark)
    }

    fn mark_deleting(&self, document: &str, mark: u64) -> Result<(), StoreError> {
        self.add_flags(PendingKind::Change, &[(document, DELETED)], mark)
    }

    fn mark_versioning(&self, document: &str, mark: u64) -> Result<(), StoreError> {
        self.add_flags(PendingKind::Version, &[(document, 0)], mark)
    }

    fn pending_changes(&self) -> Result<Vec<PendingChange>, StoreError> {
        let mut changes = Vec::new();
        for (prefix, kind) in [
            (PENDING, PendingKind::Change),
            (VERSIONING, PendingKind::Version),
        ] {
            for item in self.tree.scan_prefix([prefix]) {
                let (key, value) = item?;
                let (flags, mark) =
                    decode_pending(&value).ok_or_else(|| corrupt("pending change"))?;
                changes.push(PendingChange {
                    document: String::from_utf8_lossy(&key[1..]).into_owned(),
                    kind,
                    created: flags & CREATED != 0,
                    deleted: flags & DELETED != 0,
                    mark,
                });
            }
        }
        Ok(changes)
    }

    fn append_events(
        &self,
        payloads: &[Vec<u8>],
        settle: Option<Settle<'_>>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut range = self.range.lock().unwrap_or_else(PoisonError::into_inner);
        let sequences: Vec<u64> = (1..=payloads.len() as u64)
            .map(|n| range.last + n)
            .collect();
        let settle_key =
            settle.map(|settle| (pending_key(settle.kind, settle.document), settle.mark));
        self.write(|| {
            self.tree
                .transaction(|tree| {
                    for (sequence, payload) in sequences.iter().zip(payloads) {
                        tree.insert(&event_key(*sequence)[..], payload.as_slice())?;
                    }
                    if let Some((key, mark)) = &settle_key {
                        let current = tree.get(key)?.and_then(|raw| decode_pending(&raw));
                        if current.is_some_and(|(_, current)| current == *mark) {
                            tree.remove(key.as_slice())?;
                        }
                    }
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                })
                .map_err(from_transaction)
        })?;
        range.last += payloads.len() as u64;
        Ok(sequences)
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let start = event_key(after.saturating_add(1));
        let end = [EVENT + 1];
        self.tree
            .range(start.to_vec()..end.to_vec())
            .take(limit)
            .map(|item| {
                let (key, value) = item?;
                Ok(StoredEvent {
                    sequence: sequence_of(&key),
                    payload: value.to_vec(),
                })
            })
            .collect()
    }

    fn event_range(&self) -> Result<EventRange, StoreError> {
        Ok(*self.range.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn trim_events(&self, through: u64) -> Result<(), StoreError> {
        let mut range = self.range.lock().unwrap_or_else(PoisonError::into_inner);
        let through = through.min(range.last);
        if through <= range.trimmed_through {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let start = event_key(range.trimmed_through.saturating_add(1));
        let end = event_key(through.saturating_add(1));
        for key in self.tree.range(start..end).keys() {
            batch.remove(key?);
        }
        batch.insert(TRIMMED, &through.to_be_bytes());
        self.write(|| Ok(self.tree.apply_batch(batch)?))?;
        range.trimmed_through = through;
        Ok(())
    }

    fn delivered_through(&self, subscriber: &str) -> Result<Option<u64>, StoreError> {
        match self.tree.get(prefixed(CURSOR, subscriber))? {
            None => Ok(None),
            Some(raw) => decode_number(&raw)
                .map(Some)
                .ok_or_else(|| corrupt("delivery cursor")),
        }
    }

    fn set_delivered_through(&self, subscriber: &str, through: u64) -> Result<(), StoreError> {
        self.latch.check()?;
        self.latch.observe(
            self.tree
                .insert(prefixed(CURSOR, subscriber), &through.to_be_bytes())
                .map_err(StoreError::from),
        )?;
        self.latch.count_write();
        Ok(())
    }
}
