//! The write paths of [`SledStore`]: appends (into the append log), the batches every sled write
//! goes through, and the flush that makes both durable.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::Ordering;

use super::SledStore;
use crate::append_log::Append;
use crate::data_directory::sled_directory;
use crate::document_entry::{DocumentEntry, now_millis};
use crate::document_id::validate_document_id;
use crate::error::StoreError;
use crate::record::{RecordKind, encode_record};
use crate::sled_gate;
use crate::sled_keys::entry_key;
use crate::store::{AppendReceipt, Seq};

/// One document's state while a batch of appends is built.
struct Appending {
    entry: DocumentEntry,
    /// The entry as created by this batch, written to sled before the frames that need it.
    created: Option<DocumentEntry>,
    appended: bool,
}

impl SledStore {
    /// Appends each update to the append log in one write; a document the batch creates gets its
    /// entry in sled first (frames name the document number that entry gives).
    pub(super) fn append_many_unwatched(
        &self,
        appends: &[(&str, &[u8])],
    ) -> Vec<Result<AppendReceipt, StoreError>> {
        let _guards = self
            .document_locks
            .lock_many(appends.iter().map(|(doc, _)| *doc));
        let mut documents: HashMap<&str, Appending> = HashMap::new();
        let mut records: Vec<(usize, Seq, Vec<u8>)> = Vec::new();
        let mut results: Vec<Result<AppendReceipt, StoreError>> = appends
            .iter()
            .enumerate()
            .map(|(position, &(doc, update))| {
                validate_document_id(doc)?;
                let document = match documents.entry(doc) {
                    Entry::Occupied(occupied) => occupied.into_mut(),
                    Entry::Vacant(vacant) => {
                        let (entry, created) = match self.read_entry(doc)? {
                            Some(entry) => (entry, None),
                            None => {
                                let entry = DocumentEntry::new(self.database.generate_id()?);
                                (entry.clone(), Some(entry))
                            }
                        };
                        vacant.insert(Appending {
                            entry,
                            created,
                            appended: false,
                        })
                    }
                };
                // Encoded before the entry counts it: a payload refused here
                // leaves the document's seqs as they were.
                let seq = document.entry.next_append_seq();
                let record = encode_record(RecordKind::Update, seq, update)
                    .map_err(StoreError::PayloadTooLarge)?;
                document.entry.record_append(update.len());
                // The first append that lands creates a new document; a refused one did not.
                let created = document.created.is_some() && !document.appended;
                document.appended = true;
                records.push((position, seq, record));
                Ok(AppendReceipt {
                    seq,
                    log_records: document.entry.log_records,
                    log_bytes: document.entry.log_bytes,
                    created,
                })
            })
            .collect();
        if records.is_empty() {
            return results;
        }
        if let Err(error) = self.write_appends(appends, &documents, &records) {
            // An I/O failure has set the latch: every append reports it, naming its cause.
            let error = self.latch.check().err().unwrap_or(error);
            for result in results.iter_mut().filter(|result| result.is_ok()) {
                *result = Err(match &error {
                    StoreError::Database(error) => StoreError::Database(error.clone()),
                    StoreError::Unwritable { first_error } => StoreError::Unwritable {
                        first_error: first_error.clone(),
                    },
                    other => StoreError::Unwritable {
                        first_error: other.to_string(),
                    },
                });
            }
            return results;
        }
        let mut newer = self.lock_newer_entries();
        for (doc, document) in documents {
            if document.appended {
                newer.insert(doc.to_owned(), document.entry);
            }
        }
        results
    }

    /// The sled batch of new entries, then the frames.
    fn write_appends(
        &self,
        appends: &[(&str, &[u8])],
        documents: &HashMap<&str, Appending>,
        records: &[(usize, Seq, Vec<u8>)],
    ) -> Result<(), StoreError> {
        // Whatever was written to sled before these appends (the change log's pending marks) must
        // not be lost while they survive: the kernel may write the frames out before our sync,
        // so sled is made durable first. Without such writes (no change feed) this costs nothing.
        self.sync_sled_if_written()?;
        let mut batch = sled::Batch::default();
        let mut creates = false;
        for (doc, document) in documents {
            if let (Some(created), true) = (&document.created, document.appended) {
                batch.insert(entry_key(doc), created.encode());
                creates = true;
            }
        }
        if creates {
            self.apply(batch)?;
        }
        let millis = now_millis();
        let frames: Vec<Append<'_>> = records
            .iter()
            .map(|(position, _, record)| {
                let doc = appends[*position].0;
                Append {
                    document_number: documents[doc].entry.document_number,
                    appended_at_millis: millis,
                    id: doc,
                    record,
                }
            })
            .collect();
        let seqs: Vec<Seq> = records.iter().map(|(_, seq, _)| *seq).collect();
        self.latch.check()?;
        self.latch.observe(
            self.appends
                .append(&frames, &seqs)
                .map_err(|source| StoreError::Io {
                    path: self.append_log_directory(),
                    source,
                }),
        )
    }

    /// Makes every append and every sled write so far durable: the append log's `fdatasync`
    /// always, sled's flush and file syncs only when sled was written since its last one.
    pub(super) fn flush_all(&self) -> Result<(), StoreError> {
        self.latch.check()?;
        self.sync_appends()?;
        let writes = self.latch.writes();
        if writes
            != self
                .sled_synced_writes
                .load(std::sync::atomic::Ordering::Acquire)
        {
            self.sync_sled()?;
            self.sled_synced_writes
                .fetch_max(writes, std::sync::atomic::Ordering::AcqRel);
        }
        // Folding is `maintain`'s: done here it put a sled write and flush of every live update
        // of a whole segment into one batch's flush, and every room waited for it (issue #20).
        // Only a backlog twice the limit, when maintenance does not keep up, is folded here.
        if self.appends.folding_overdue() {
            self.fold_due()?;
        }
        Ok(())
    }

    /// sled's flush and syncs, if sled was written since they last ran.
    fn sync_sled_if_written(&self) -> Result<(), StoreError> {
        let writes = self.latch.writes();
        if writes != self.sled_synced_writes.load(Ordering::Acquire) {
            self.sync_sled()?;
            self.sled_synced_writes.fetch_max(writes, Ordering::AcqRel);
        }
        Ok(())
    }

    /// The append log's `fdatasync`, under the write latch.
    pub(super) fn sync_appends(&self) -> Result<(), StoreError> {
        self.latch
            .observe(self.appends.sync().map_err(|source| StoreError::Io {
                path: self.append_log_directory(),
                source,
            }))
    }

    /// sled's flush, then the syncs that make it survive a power cut (see `sled_sync`).
    pub(super) fn sync_sled(&self) -> Result<(), StoreError> {
        // All trees share one log, so this covers every document. sled's flush alone survives
        // kill -9 but not a power cut: its files are synced after it (see `sled_sync`).
        let flushed = {
            let _flushing = sled_gate::enter_flush();
            self.database.flush()
        };
        self.latch.observe(flushed.map_err(StoreError::from))?;
        self.latch
            .observe(self.files.sync().map_err(|source| StoreError::Io {
                path: sled_directory(&self.directory),
                source,
            }))
    }

    /// Applies a batch of writes, unless an earlier write failed (see `write_latch`). Counted:
    /// the append log's next batch makes it durable before its frames (`sync_sled_if_written`).
    pub(super) fn apply(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.apply_batch(batch, true)
    }

    /// Applies a batch that its caller makes durable itself (`sync_sled`) before it returns, so
    /// no append depends on it. Not counted: a compaction's megabyte snapshot otherwise went
    /// into the flush of the writer's next batch of small updates, and every room waited for
    /// it (issue #20).
    pub(super) fn apply_self_synced(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.apply_batch(batch, false)
    }

    fn apply_batch(&self, batch: sled::Batch, counted: bool) -> Result<(), StoreError> {
        let applied = {
            let _batch = sled_gate::enter_batch();
            // Checked once through the gate: a flush it waited for may have failed meanwhile.
            self.latch.check()?;
            let applied = self.documents.apply_batch(batch);
            if counted {
                self.latch.count_write();
            }
            applied
        };
        self.latch.observe(applied.map_err(StoreError::from))
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
