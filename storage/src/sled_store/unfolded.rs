//! Updates that live in the append log rather than in sled: rebuilding what they imply at open,
//! the document entries that are newer than sled's because of them, and folding them into sled.
//!
//! sled's entry of a document is written when the document is created, compacted, folded or
//! deleted, not at every append; between those, the store keeps the newer entry in memory
//! (`newer_entries`), and the append log's frames are what make it recoverable: replay counts
//! every live frame past sled's entry back into it. An entry is only ever written to sled with
//! counts whose frames are already durable (each writer syncs the append log first, holding the
//! document's lock), so a power cut can never leave sled naming an update that is gone.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{MutexGuard, PoisonError};

use super::SledStore;
use crate::append_log::{FoldGroup, ReplayedFrame};
use crate::document_entry::DocumentEntry;
use crate::error::StoreError;
use crate::sled_keys::{entry_key, update_key};
use crate::store::Seq;

impl SledStore {
    /// Takes the frames found at open back: those of a live document incarnation, past its
    /// snapshot and not already copied into sled, are indexed and counted into its entry.
    pub(super) fn replay(&self, frames: Vec<ReplayedFrame>) -> Result<(), StoreError> {
        let mut entries: HashMap<String, Option<DocumentEntry>> = HashMap::new();
        let mut changed = HashSet::new();
        let mut live = Vec::new();
        for frame in frames {
            let entry = match entries.entry(frame.id.clone()) {
                Entry::Occupied(occupied) => occupied.into_mut(),
                // A damaged entry names no incarnation: its frames cannot be placed.
                Entry::Vacant(vacant) => vacant.insert(self.read_entry(&frame.id).ok().flatten()),
            };
            let Some(entry) = entry else {
                continue;
            };
            if entry.document_number != frame.document_number
                || frame.seq <= entry.snapshot_through
                || self
                    .documents
                    .contains_key(update_key(frame.document_number, frame.seq))?
            {
                continue;
            }
            if frame.seq >= entry.next_seq {
                entry.next_seq = frame.seq.next();
                entry.log_records += 1;
                entry.log_bytes += frame.payload_length;
                entry.updated_at_millis = entry.updated_at_millis.max(frame.appended_at_millis);
                changed.insert(frame.id.clone());
            }
            live.push(frame);
        }
        self.appends.adopt(live);
        {
            let mut newer = self.lock_newer_entries();
            for id in changed {
                if let Some(Some(entry)) = entries.remove(&id) {
                    newer.insert(id, entry);
                }
            }
        }
        self.appends
            .remove_dead_segments()
            .map_err(|source| StoreError::Io {
                path: self.append_log_directory(),
                source,
            })
    }

    /// Folds the oldest segments into sled while more closed segments are kept than the limits
    /// allow (see [`DocStore::maintain`]).
    pub(super) fn fold_due(&self) -> Result<(), StoreError> {
        while let Some(groups) = self.appends.due_for_folding() {
            self.fold(&groups)?;
        }
        Ok(())
    }

    /// Copies the given live updates into sled with their documents' entries, makes that
    /// durable, and only then lets the append log forget them.
    ///
    /// The documents' locks are held while the entries are read and written, and again while
    /// the frames are forgotten, but not across sled's flush: appends to those documents go on
    /// meanwhile. That is safe because the frames stay live until the flush is done, so a
    /// crash in between finds them in the log as before; and sled's entries, which count every
    /// append so far, are written only after those appends' frames are durable.
    pub(super) fn fold(&self, groups: &[FoldGroup]) -> Result<(), StoreError> {
        // The frames of a closed segment never change: read before any lock is taken, so the
        // documents' locks (which the writer's appends wait for) are held only for the writes.
        let mut records = Vec::with_capacity(groups.len());
        for group in groups {
            let read = self.appends.read_seqs(group.document_number, &group.seqs);
            records.push(read.map_err(|source| StoreError::Io {
                path: self.append_log_directory(),
                source,
            })?);
        }
        let ids = || groups.iter().map(|group| group.id.as_str());
        let writes = {
            let _guards = self.document_locks.lock_many(ids());
            self.sync_appends()?;
            let mut batch = sled::Batch::default();
            let mut writes = false;
            for (group, records) in groups.iter().zip(records) {
                let number = group.document_number;
                match self.read_entry(&group.id) {
                    Ok(Some(entry)) if entry.document_number == number => {
                        // A compaction may have written its snapshot and not yet let the log
                        // forget what it covers: those updates belong to the snapshot now.
                        let covered = if entry.has_snapshot {
                            entry.snapshot_through
                        } else {
                            Seq::ZERO
                        };
                        for (seq, record) in records {
                            if seq > covered {
                                batch.insert(update_key(number, seq), record);
                            }
                        }
                        batch.insert(entry_key(&group.id), entry.encode());
                        writes = true;
                    }
                    // Deleted, re-created, or damaged: nothing can read these frames any more.
                    _ => {}
                }
            }
            if writes {
                self.apply_self_synced(batch)?;
            }
            writes
        };
        if writes {
            self.sync_sled()?;
        }
        let _guards = self.document_locks.lock_many(ids());
        let mut newer = self.lock_newer_entries();
        for group in groups {
            self.appends
                .forget(group.document_number, &group.seqs)
                .map_err(|source| StoreError::Io {
                    path: self.append_log_directory(),
                    source,
                })?;
            // sled's entry is the newest now; keep it in memory only while frames remain.
            let same_incarnation = newer
                .get(&group.id)
                .is_some_and(|entry| entry.document_number == group.document_number);
            if same_incarnation && self.appends.seqs_of(group.document_number).is_empty() {
                newer.remove(&group.id);
            }
        }
        Ok(())
    }

    /// Moves everything of `doc` out of the append log into sled, entry included, so that its
    /// records can be read and damaged in place (the corruption tests' raw access).
    pub(super) fn settle(&self, doc: &str) -> Result<(), StoreError> {
        let Some(entry) = self.read_entry(doc)? else {
            return Ok(());
        };
        let number = entry.document_number;
        self.fold(&[FoldGroup {
            id: doc.to_owned(),
            document_number: number,
            seqs: self.appends.seqs_of(number),
        }])?;
        self.lock_newer_entries().remove(doc);
        Ok(())
    }

    pub(super) fn lock_newer_entries(&self) -> MutexGuard<'_, HashMap<String, DocumentEntry>> {
        // Each update of the map is a single insert or remove, so a poisoned lock holds
        // consistent data.
        self.newer_entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
