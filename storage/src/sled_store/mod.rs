//! The on-disk `DocStore`, built on sled.
//!
//! sled gives us an ordered key-value tree, crash-atomic batches within one
//! tree, an explicit `flush` for group commit, and its own checksummed log.
//! On top of it this module keeps the key layout from `sled_keys`, writes
//! every change to a document as one batch (log changes: records plus the
//! entry; a new version: its two records), and serializes operations per
//! document with `DocumentLocks`.
//!
//! Appended updates go to the append log first (`append_log`, in `appends/`): a group commit
//! is then one write and one `fdatasync`, and sled is written only when a document is created,
//! compacted, versioned, deleted or folded (`unfolded`). Reads merge the two.
//!
//! The data directory holds `quire.lock`, which the store keeps locked for
//! its lifetime so a second instance fails with `StoreError::Locked`,
//! `sled/`, sled's own files, and `appends/`; `data_directory` handles opening the first two.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use crate::append_log::{AppendLog, AppendLogLimits};
use crate::change_log::ChangeLog;
use crate::data_directory::{OpenedDirectory, open_data_directory, sled_directory};
use crate::document_entry::DocumentEntry;
use crate::document_id::validate_document_id;
use crate::document_kind::DocumentKind;
use crate::document_locks::DocumentLocks;
use crate::error::StoreError;
use crate::load::LoadAssembler;
use crate::sled_change_log::SledChangeLog;
use crate::sled_keys::{
    entry_key, entry_key_prefix, id_from_entry_key, seq_from_update_key, snapshot_key, update_key,
    version_entry_key, version_entry_prefix, version_from_key, version_snapshot_key,
    version_snapshot_prefix,
};
use crate::sled_sync::SledFiles;
use crate::store::{AppendReceipt, DocMeta, DocStore, LoadedDoc, Seq};
use crate::testing::{RawRecordAccess, RawSlot};
use crate::version::{VersionId, VersionMeta, validate_version_label};
use crate::version_record::{decode_version_entry, decode_version_snapshot, encode_version};
use crate::write_latch::WriteLatch;

mod background_sync;
mod removals;
mod unfolded;
mod writes;

use background_sync::spawn_background_sync;

/// The append log's directory inside the data directory.
const APPEND_LOG_DIRECTORY_NAME: &str = "appends";

/// A `DocStore` persisted in a sled database inside a data directory.
pub struct SledStore {
    documents: sled::Tree,
    /// The change log, in a tree of its own in the same database.
    changes: SledChangeLog,
    database: sled::Db,
    /// sled's files, synced after every flush (see `sled_sync`).
    files: SledFiles,
    document_locks: DocumentLocks,
    directory: PathBuf,
    /// Set by the first failed write: sled makes nothing durable after it (see `write_latch`).
    latch: Arc<WriteLatch>,
    /// Where appends go first (see `append_log`); shared with the background sync thread.
    appends: Arc<AppendLog>,
    /// Entries newer than sled's, for documents with updates in the append log (see `unfolded`).
    newer_entries: Mutex<HashMap<String, DocumentEntry>>,
    /// The latch's count of sled writes when sled was last made durable.
    sled_synced_writes: AtomicU64,
    /// Held, never read: dropping it (last, after sled has closed) releases
    /// the directory for the next opener.
    _directory_lock: File,
}

/// sled's page cache when the caller does not choose: enough for the working set of a few hundred
/// large documents being loaded at once.
pub const DEFAULT_CACHE_BYTES: u64 = 128 * 1024 * 1024;

impl SledStore {
    /// Opens (creating if needed) the store in `directory`.
    ///
    /// Fails with [`StoreError::Locked`] if another store holds the
    /// directory (after a bounded grace of about two seconds; it never waits
    /// indefinitely), and with [`StoreError::UnsupportedFormat`] if the data
    /// was written by an incompatible layout version.
    pub fn open(directory: &Path) -> Result<SledStore, StoreError> {
        Self::open_with_cache(directory, DEFAULT_CACHE_BYTES)
    }

    /// Like [`SledStore::open`], with sled's page cache bounded to `cache_bytes`.
    ///
    /// The cache only speeds up loading documents that are not in memory; sled's own default
    /// (1 GB) would let it grow to a gigabyte of RSS that never comes back.
    pub fn open_with_cache(directory: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        Self::open_with_limits(directory, cache_bytes, AppendLogLimits::default())
    }

    /// Like [`SledStore::open_with_cache`], with the append log's segments sized by `limits`
    /// (tests use tiny segments to fold all the time).
    pub fn open_with_limits(
        directory: &Path,
        cache_bytes: u64,
        limits: AppendLogLimits,
    ) -> Result<SledStore, StoreError> {
        let OpenedDirectory {
            lock_file,
            database,
            documents,
        } = open_data_directory(directory, cache_bytes)?;
        let sled_directory = sled_directory(directory);
        let files = SledFiles::open(&sled_directory).map_err(|source| StoreError::Io {
            path: sled_directory,
            source,
        })?;
        let latch = Arc::new(WriteLatch::default());
        let append_log_directory = directory.join(APPEND_LOG_DIRECTORY_NAME);
        let (appends, frames) =
            AppendLog::open(&append_log_directory, limits).map_err(|source| StoreError::Io {
                path: append_log_directory,
                source,
            })?;
        let appends = Arc::new(appends);
        let store = SledStore {
            changes: SledChangeLog::open(&database, Arc::clone(&latch))?,
            documents,
            database,
            files,
            document_locks: DocumentLocks::new(),
            directory: directory.to_path_buf(),
            latch,
            appends,
            newer_entries: Mutex::new(HashMap::new()),
            sled_synced_writes: AtomicU64::new(0),
            _directory_lock: lock_file,
        };
        store.replay(frames)?;
        spawn_background_sync(&store.appends, &store.latch);
        Ok(store)
    }

    fn append_log_directory(&self) -> PathBuf {
        self.directory.join(APPEND_LOG_DIRECTORY_NAME)
    }

    /// The data directory this store was opened on.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    fn read_entry(&self, doc: &str) -> Result<Option<DocumentEntry>, StoreError> {
        if let Some(entry) = self.lock_newer_entries().get(doc) {
            return Ok(Some(entry.clone()));
        }
        let Some(raw) = self.documents.get(entry_key(doc))? else {
            return Ok(None);
        };
        DocumentEntry::decode(&raw)
            .map(Some)
            .map_err(|source| StoreError::CorruptEntry {
                doc: doc.to_owned(),
                source,
            })
    }

    /// Entries in key order starting strictly after `after`'s entry key.
    fn metas_after(&self, after: &str, limit: usize) -> Result<Vec<DocMeta>, StoreError> {
        let prefix = entry_key_prefix();
        let range = (Bound::Excluded(entry_key(after)), Bound::Unbounded);
        let mut metas = Vec::new();
        for item in self.documents.range(range) {
            if metas.len() >= limit {
                break;
            }
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let id = id_from_entry_key(&key).unwrap_or_default();
            let newer = self.lock_newer_entries().get(&id).cloned();
            let meta = match newer {
                Some(entry) => entry.to_meta(&id),
                None => DocumentEntry::decode(&value)
                    .map_or_else(|_| DocMeta::damaged(&id), |entry| entry.to_meta(&id)),
            };
            metas.push(meta);
        }
        Ok(metas)
    }

    /// The id the document's next version receives: one past the highest
    /// id either kind of version key holds, so even an orphaned snapshot is
    /// never overwritten.
    fn next_version_id(&self, number: u64) -> Result<VersionId, StoreError> {
        let mut highest = None;
        for prefix in [
            version_entry_prefix(number),
            version_snapshot_prefix(number),
        ] {
            if let Some(key) = self.documents.scan_prefix(prefix).keys().next_back() {
                highest = highest.max(version_from_key(&key?));
            }
        }
        Ok(highest.map_or(VersionId::FIRST, VersionId::next))
    }

    fn raw_slot_key(&self, doc: &str, slot: RawSlot) -> Option<Vec<u8>> {
        // Raw access means sled's own slots: everything of the document moves there first (a
        // document whose entry is damaged has nothing in the append log to move).
        let _ = self.settle(doc);
        if slot == RawSlot::Entry {
            return Some(entry_key(doc));
        }
        let number = self.read_entry(doc).ok()??.document_number;
        match slot {
            RawSlot::Snapshot => Some(snapshot_key(number)),
            RawSlot::Update(seq) => Some(update_key(number, seq)),
            RawSlot::VersionEntry(id) => Some(version_entry_key(number, id)),
            RawSlot::VersionSnapshot(id) => Some(version_snapshot_key(number, id)),
            RawSlot::Entry => None,
        }
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SledStore")
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

impl DocStore for SledStore {
    fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        validate_document_id(doc)?;
        let _guard = self.document_locks.lock(doc);
        let Some(entry) = self.read_entry(doc)? else {
            return Ok(LoadedDoc::default());
        };
        let number = entry.document_number;
        let mut assembler = LoadAssembler::new(&entry);
        if entry.has_snapshot {
            let raw = self.documents.get(snapshot_key(number))?;
            assembler.snapshot(&entry, raw.as_deref());
        }
        if assembler.wants_more() {
            // Updates are in sled (folded) or in the append log, never both: merged by seq.
            let mut updates: BTreeMap<Seq, Vec<u8>> = self
                .appends
                .read(number, entry.snapshot_through, entry.next_seq)
                .map_err(|source| StoreError::Io {
                    path: self.append_log_directory(),
                    source,
                })?
                .into_iter()
                .collect();
            let first = update_key(number, entry.snapshot_through.next());
            let end = update_key(number, entry.next_seq);
            for item in self.documents.range(first..end) {
                let (key, value) = item?;
                // Keys not shaped like update keys cannot have been written
                // by this layout; a resulting gap is reported as Missing.
                if let Some(seq) = seq_from_update_key(&key) {
                    updates.insert(seq, value.to_vec());
                }
            }
            for (seq, value) in updates {
                if !assembler.update(seq, &value) {
                    break;
                }
            }
        }
        Ok(assembler.finish())
    }

    fn create(&self, doc: &str, kind: DocumentKind) -> Result<bool, StoreError> {
        validate_document_id(doc)?;
        {
            let _guard = self.document_locks.lock(doc);
            if self.documents.get(entry_key(doc))?.is_some() {
                return Ok(false);
            }
            let mut entry = DocumentEntry::new(self.database.generate_id()?);
            entry.kind = kind;
            let mut batch = sled::Batch::default();
            batch.insert(entry_key(doc), entry.encode());
            // Counted (see `apply`): appends to the new document build on this entry.
            self.apply(batch)?;
        }
        self.flush()?;
        Ok(true)
    }

    fn append(&self, doc: &str, update: &[u8]) -> Result<AppendReceipt, StoreError> {
        self.append_many(&[(doc, update)])
            .pop()
            .unwrap_or_else(|| unreachable!("one receipt per append"))
    }

    fn append_many(&self, appends: &[(&str, &[u8])]) -> Vec<Result<AppendReceipt, StoreError>> {
        if let Err(refused) = self.latch.check() {
            let description = refused.to_string();
            return appends
                .iter()
                .map(|_| {
                    Err(StoreError::Unwritable {
                        first_error: description.clone(),
                    })
                })
                .collect();
        }
        let results = self.append_many_unwatched(appends);
        for result in &results {
            if let Err(error) = result
                && matches!(error, StoreError::Database(_) | StoreError::Io { .. })
            {
                let _ = self.latch.observe::<()>(Err(match error {
                    StoreError::Database(error) => StoreError::Database(error.clone()),
                    other => StoreError::Unwritable {
                        first_error: other.to_string(),
                    },
                }));
            }
        }
        results
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.flush_all()
    }

    fn maintain(&self) -> Result<(), StoreError> {
        self.fold_due()
    }

    fn change_log(&self) -> Option<&dyn ChangeLog> {
        Some(&self.changes)
    }

    fn available_bytes(&self) -> Option<u64> {
        let filesystem = rustix::fs::statvfs(&self.directory).ok()?;
        Some(filesystem.f_bavail.saturating_mul(filesystem.f_frsize))
    }

    fn compact(&self, doc: &str, snapshot: &[u8], through: Seq) -> Result<(), StoreError> {
        self.compact_document(doc, snapshot, through)
    }

    fn list(&self) -> Result<Vec<DocMeta>, StoreError> {
        // The empty id's entry key is the bare prefix, which no document has,
        // so "after the empty id" means "from the start".
        self.metas_after("", usize::MAX)
    }

    fn list_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DocMeta>, StoreError> {
        self.metas_after(after.unwrap_or(""), limit)
    }

    fn metadata(&self, doc: &str) -> Result<Option<DocMeta>, StoreError> {
        validate_document_id(doc)?;
        Ok(self.read_entry(doc)?.map(|entry| entry.to_meta(doc)))
    }

    fn delete(&self, doc: &str) -> Result<bool, StoreError> {
        self.delete_document(doc)
    }

    fn create_version(
        &self,
        doc: &str,
        label: &str,
        snapshot: &[u8],
    ) -> Result<VersionMeta, StoreError> {
        validate_document_id(doc)?;
        validate_version_label(label)?;
        let meta = {
            let _guard = self.document_locks.lock(doc);
            let entry = self
                .read_entry(doc)?
                .ok_or_else(|| StoreError::UnknownDocument {
                    doc: doc.to_owned(),
                })?;
            let number = entry.document_number;
            let version = encode_version(self.next_version_id(number)?, label, snapshot)?;
            let mut batch = sled::Batch::default();
            batch.insert(version_entry_key(number, version.meta.id), version.entry);
            batch.insert(
                version_snapshot_key(number, version.meta.id),
                version.snapshot,
            );
            self.apply_self_synced(batch)?;
            version.meta
        };
        // As with compact: the caller waits for the disk, other writers to
        // the document do not.
        self.sync_sled()?;
        Ok(meta)
    }

    fn list_versions(&self, doc: &str) -> Result<Vec<VersionMeta>, StoreError> {
        validate_document_id(doc)?;
        let _guard = self.document_locks.lock(doc);
        let Some(entry) = self.read_entry(doc)? else {
            return Ok(Vec::new());
        };
        let mut versions = Vec::new();
        for item in self
            .documents
            .scan_prefix(version_entry_prefix(entry.document_number))
        {
            let (key, value) = item?;
            // Keys not shaped like version keys cannot have been written by
            // this layout; they name no version.
            let Some(id) = version_from_key(&key) else {
                continue;
            };
            let meta =
                decode_version_entry(id, &value).map_err(|source| StoreError::CorruptVersion {
                    doc: doc.to_owned(),
                    version: id,
                    source,
                })?;
            versions.push(meta);
        }
        Ok(versions)
    }

    fn load_version(
        &self,
        doc: &str,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError> {
        validate_document_id(doc)?;
        let _guard = self.document_locks.lock(doc);
        let Some(entry) = self.read_entry(doc)? else {
            return Ok(None);
        };
        let number = entry.document_number;
        let Some(raw_entry) = self.documents.get(version_entry_key(number, version))? else {
            return Ok(None);
        };
        let raw_snapshot = self.documents.get(version_snapshot_key(number, version))?;
        let corrupt = |source| StoreError::CorruptVersion {
            doc: doc.to_owned(),
            version,
            source,
        };
        let meta = decode_version_entry(version, &raw_entry).map_err(corrupt)?;
        let snapshot = decode_version_snapshot(&meta, raw_snapshot.as_deref()).map_err(corrupt)?;
        Ok(Some((meta, snapshot)))
    }
}

impl RawRecordAccess for SledStore {
    fn read_raw(&self, doc: &str, slot: RawSlot) -> Option<Vec<u8>> {
        let key = self.raw_slot_key(doc, slot)?;
        self.documents.get(key).ok()?.map(|value| value.to_vec())
    }

    fn write_raw(&self, doc: &str, slot: RawSlot, bytes: Option<&[u8]>) -> bool {
        let Some(key) = self.raw_slot_key(doc, slot) else {
            return false;
        };
        let written = match bytes {
            Some(bytes) => self.documents.insert(key, bytes).map(drop),
            None => self.documents.remove(key).map(drop),
        };
        written.is_ok()
    }
}
