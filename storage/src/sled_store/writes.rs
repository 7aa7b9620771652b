//! The write paths of [`SledStore`]: appends, one batch for many, and the latch every write goes
//! through (see `write_latch`), kept apart from the reads and the bookkeeping in `mod.rs`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::SledStore;
use crate::document_entry::DocumentEntry;
use crate::document_id::validate_document_id;
use crate::error::StoreError;
use crate::record::{RecordKind, encode_record};
use crate::sled_gate;
use crate::sled_keys::{entry_key, update_key};
use crate::store::AppendReceipt;

impl SledStore {
    pub(super) fn append_unwatched(
        &self,
        doc: &str,
        update: &[u8],
    ) -> Result<AppendReceipt, StoreError> {
        validate_document_id(doc)?;
        let _guard = self.document_locks.lock(doc);
        let (mut entry, created) = match self.read_entry(doc)? {
            Some(entry) => (entry, false),
            None => (DocumentEntry::new(self.database.generate_id()?), true),
        };
        let seq = entry.record_append(update.len());
        let record =
            encode_record(RecordKind::Update, seq, update).map_err(StoreError::PayloadTooLarge)?;
        let mut batch = sled::Batch::default();
        batch.insert(update_key(entry.document_number, seq), record);
        batch.insert(entry_key(doc), entry.encode());
        self.apply(batch)?;
        Ok(AppendReceipt {
            seq,
            log_records: entry.log_records,
            log_bytes: entry.log_bytes,
            created,
        })
    }

    pub(super) fn append_many_unwatched(
        &self,
        appends: &[(&str, &[u8])],
    ) -> Vec<Result<AppendReceipt, StoreError>> {
        // One sled batch for all of them: sled writes its log buffer out, with a
        // device sync, for every batch it applies, so appending each separately
        // cost a device write per update when many documents each send a little.
        let _guards = self
            .document_locks
            .lock_many(appends.iter().map(|(doc, _)| *doc));
        // Each document's entry, whether this batch creates it, and whether an append to it went
        // into the batch.
        let mut entries: HashMap<&str, (DocumentEntry, bool, bool)> = HashMap::new();
        let mut batch = sled::Batch::default();
        let mut results: Vec<Result<AppendReceipt, StoreError>> = appends
            .iter()
            .map(|&(doc, update)| {
                validate_document_id(doc)?;
                let (entry, new, appended) = match entries.entry(doc) {
                    Entry::Occupied(occupied) => occupied.into_mut(),
                    Entry::Vacant(vacant) => {
                        let (entry, new) = match self.read_entry(doc)? {
                            Some(entry) => (entry, false),
                            None => (DocumentEntry::new(self.database.generate_id()?), true),
                        };
                        vacant.insert((entry, new, false))
                    }
                };
                // Encoded before the entry counts it: a payload refused here
                // leaves the document's seqs as they were.
                let seq = entry.next_append_seq();
                let record = encode_record(RecordKind::Update, seq, update)
                    .map_err(StoreError::PayloadTooLarge)?;
                entry.record_append(update.len());
                // The first append that lands creates a new document; a refused one did not.
                let created = *new && !*appended;
                *appended = true;
                batch.insert(update_key(entry.document_number, seq), record);
                Ok(AppendReceipt {
                    seq,
                    log_records: entry.log_records,
                    log_bytes: entry.log_bytes,
                    created,
                })
            })
            .collect();
        for (doc, (entry, _, appended)) in &entries {
            if *appended {
                batch.insert(entry_key(doc), entry.encode());
            }
        }
        let anything = entries.values().any(|(_, _, appended)| *appended);
        if anything && let Err(error) = self.apply(batch) {
            let description = error.to_string();
            for result in results.iter_mut().filter(|result| result.is_ok()) {
                *result = Err(match &error {
                    StoreError::Database(error) => StoreError::Database(error.clone()),
                    _ => StoreError::Unwritable {
                        first_error: description.clone(),
                    },
                });
            }
        }
        results
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // sled flushes when its last handle goes, and after a failed write that flush never
        // returns: the process could then not stop. Nothing more can be made durable anyway, so
        // a failed store's handles are leaked instead of closed.
        if self.latch.is_set() {
            std::mem::forget(self.database.clone());
            std::mem::forget(self.documents.clone());
        }
    }
}

impl SledStore {
    /// Applies a batch of writes, unless an earlier write failed (see `write_latch`).
    pub(super) fn apply(&self, batch: sled::Batch) -> Result<(), StoreError> {
        let applied = {
            let _batch = sled_gate::enter_batch();
            // Checked once through the gate: a flush it waited for may have failed meanwhile.
            self.latch.check()?;
            self.documents.apply_batch(batch)
        };
        self.latch.observe(applied.map_err(StoreError::from))
    }
}
