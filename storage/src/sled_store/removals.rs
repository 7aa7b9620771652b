//! Compaction and deletion in [`SledStore`]: the two writes that make updates dead, in sled and
//! then in the append log, once the sled write that covers them is durable.

use super::SledStore;
use crate::document_entry::DocumentEntry;
use crate::document_id::validate_document_id;
use crate::error::StoreError;
use crate::record::{RecordKind, encode_record, payload_length_of_stored};
use crate::sled_keys::{
    document_prefix, entry_key, seq_from_update_key, snapshot_key, update_prefix,
};
use crate::store::Seq;

impl SledStore {
    pub(super) fn compact_document(
        &self,
        doc: &str,
        snapshot: &[u8],
        through: Seq,
    ) -> Result<(), StoreError> {
        validate_document_id(doc)?;
        let number = {
            let _guard = self.document_locks.lock(doc);
            // The entry written below counts every append so far: those frames must be durable.
            self.sync_appends()?;
            let existing = self.read_entry(doc)?;
            let creates = existing.is_none();
            let mut entry = match existing {
                Some(entry) => entry,
                // Only an import (through ZERO) may create a document; anything
                // else claims updates that do not exist and is refused below
                // without spending a document number.
                None if through == Seq::ZERO => DocumentEntry::new(self.database.generate_id()?),
                None => DocumentEntry::new(0),
            };
            entry.check_compaction(doc, through)?;
            let record = encode_record(RecordKind::Snapshot, through, snapshot)
                .map_err(StoreError::PayloadTooLarge)?;

            let mut batch = sled::Batch::default();
            let mut remaining_records = 0;
            let mut remaining_bytes = 0;
            for item in self
                .documents
                .scan_prefix(update_prefix(entry.document_number))
            {
                let (key, value) = item?;
                match seq_from_update_key(&key) {
                    Some(seq) if seq <= through => batch.remove(key),
                    Some(_) => {
                        remaining_records += 1;
                        remaining_bytes += payload_length_of_stored(&value);
                    }
                    None => {}
                }
            }
            let (logged_records, logged_bytes) =
                self.appends.count_after(entry.document_number, through);
            entry.record_compaction(
                snapshot.len(),
                through,
                remaining_records + logged_records,
                remaining_bytes + logged_bytes,
            );
            batch.insert(snapshot_key(entry.document_number), record);
            batch.insert(entry_key(doc), entry.encode());
            if creates {
                // An import: appends to the new document build on this entry (see `apply`).
                self.apply(batch)?;
            } else {
                self.apply_self_synced(batch)?;
            }
            // sled's entry is the newest now.
            self.lock_newer_entries().remove(doc);
            entry.document_number
        };
        // Flushing outside the document lock lets appends to this document
        // continue while the disk catches up; the caller still waits. The
        // covered frames are dead only once the snapshot is durable.
        self.sync_sled()?;
        self.appends
            .forget_through(number, through)
            .map_err(|source| StoreError::Io {
                path: self.append_log_directory(),
                source,
            })
    }

    pub(super) fn delete_document(&self, doc: &str) -> Result<bool, StoreError> {
        validate_document_id(doc)?;
        let number = {
            let _guard = self.document_locks.lock(doc);
            let key = entry_key(doc);
            let Some(raw) = self.documents.get(&key)? else {
                return Ok(false);
            };
            let number = DocumentEntry::decode(&raw)
                .ok()
                .map(|entry| entry.document_number);
            let mut batch = sled::Batch::default();
            // With a damaged entry the document number is unknown, so only
            // the entry goes; its records stay behind unreachable. Allowing
            // this is what lets an operator clear a corrupt document.
            if let Ok(entry) = DocumentEntry::decode(&raw) {
                for record_key in self
                    .documents
                    .scan_prefix(document_prefix(entry.document_number))
                    .keys()
                {
                    batch.remove(record_key?);
                }
            }
            batch.remove(key);
            self.apply_self_synced(batch)?;
            self.lock_newer_entries().remove(doc);
            number
        };
        self.sync_sled()?;
        // The frames are dead once the deletion is durable (replay finds no entry for them).
        if let Some(number) = number {
            self.appends
                .forget_document(number)
                .map_err(|source| StoreError::Io {
                    path: self.append_log_directory(),
                    source,
                })?;
        }
        Ok(true)
    }
}
