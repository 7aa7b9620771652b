//! An in-memory `DocStore` for tests and ephemeral servers.
//!
//! It keeps the same *encoded* values the sled store writes (checksummed
//! records and entries) rather than plain structs, and runs loads through the
//! same assembler, so corruption, seq and compaction rules behave identically
//! and the shared test suite can hold both stores to one standard. One mutex
//! over everything is plenty for test workloads and makes each operation
//! trivially atomic.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::change_log::ChangeLog;
use crate::document_entry::DocumentEntry;
use crate::document_id::validate_document_id;
use crate::document_kind::DocumentKind;
use crate::error::StoreError;
use crate::load::LoadAssembler;
use crate::memory_change_log::MemoryChangeLog;
use crate::record::{RecordKind, encode_record, payload_length_of_stored};
use crate::store::{AppendReceipt, DocMeta, DocStore, LoadedDoc, Seq};
use crate::testing::{RawRecordAccess, RawSlot};
use crate::version::{VersionId, VersionMeta, validate_version_label};
use crate::version_record::{decode_version_entry, decode_version_snapshot, encode_version};

/// A `DocStore` that lives in process memory and is lost on drop.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<MemoryState>,
    changes: MemoryChangeLog,
}

#[derive(Default)]
struct MemoryState {
    documents: BTreeMap<String, MemoryDocument>,
    /// Mirrors sled's id generator: numbers are never reused, even after a
    /// delete, so a recreated document never meets its predecessor's data.
    next_document_number: u64,
}

struct MemoryDocument {
    /// Encoded `DocumentEntry`.
    entry: Vec<u8>,
    /// Encoded snapshot record.
    snapshot: Option<Vec<u8>>,
    /// Encoded update records by seq.
    log: BTreeMap<Seq, Vec<u8>>,
    /// Encoded version entry records by version id.
    version_entries: BTreeMap<VersionId, Vec<u8>>,
    /// Encoded version snapshot records by version id. Kept apart from the
    /// entries, as on disk, so each can be damaged or lose its value alone.
    version_snapshots: BTreeMap<VersionId, Vec<u8>>,
}

impl MemoryDocument {
    /// One past the highest version id either map holds, as the sled store
    /// computes it from its keys.
    fn next_version_id(&self) -> VersionId {
        let highest = self
            .version_entries
            .keys()
            .next_back()
            .max(self.version_snapshots.keys().next_back());
        highest.map_or(VersionId::FIRST, |id| id.next())
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, MemoryState> {
        // Every operation finishes its fallible steps before mutating, so
        // state behind a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MemoryStore")
            .field("documents", &self.state().documents.len())
            .finish_non_exhaustive()
    }
}

impl MemoryState {
    /// The decoded entry of `doc`, creating a fresh document if absent.
    fn entry_or_new(&mut self, doc: &str) -> Result<DocumentEntry, StoreError> {
        match self.documents.get(doc) {
            Some(document) => decode_entry(doc, &document.entry),
            None => {
                self.next_document_number += 1;
                Ok(DocumentEntry::new(self.next_document_number))
            }
        }
    }

    fn document_mut(&mut self, doc: &str) -> &mut MemoryDocument {
        self.documents
            .entry(doc.to_owned())
            .or_insert_with(|| MemoryDocument {
                entry: Vec::new(),
                snapshot: None,
                log: BTreeMap::new(),
                version_entries: BTreeMap::new(),
                version_snapshots: BTreeMap::new(),
            })
    }
}

fn decode_entry(doc: &str, bytes: &[u8]) -> Result<DocumentEntry, StoreError> {
    DocumentEntry::decode(bytes).map_err(|source| StoreError::CorruptEntry {
        doc: doc.to_owned(),
        source,
    })
}

fn metas<'a>(
    documents: impl Iterator<Item = (&'a String, &'a MemoryDocument)>,
) -> Result<Vec<DocMeta>, StoreError> {
    Ok(documents
        .map(
            |(id, document)| match DocumentEntry::decode(&document.entry) {
                Ok(entry) => entry.to_meta(id),
                Err(_) => DocMeta::damaged(id),
            },
        )
        .collect())
}

impl DocStore for MemoryStore {
    fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        validate_document_id(doc)?;
        let state = self.state();
        let Some(document) = state.documents.get(doc) else {
            return Ok(LoadedDoc::default());
        };
        let entry = decode_entry(doc, &document.entry)?;
        let mut assembler = LoadAssembler::new(&entry);
        if entry.has_snapshot {
            assembler.snapshot(&entry, document.snapshot.as_deref());
        }
        if assembler.wants_more() {
            for (seq, raw) in document.log.range(entry.snapshot_through.next()..) {
                if !assembler.update(*seq, raw) {
                    break;
                }
            }
        }
        Ok(assembler.finish())
    }

    fn create(&self, doc: &str, kind: DocumentKind) -> Result<bool, StoreError> {
        validate_document_id(doc)?;
        let mut state = self.state();
        if state.documents.contains_key(doc) {
            return Ok(false);
        }
        let mut entry = state.entry_or_new(doc)?;
        entry.kind = kind;
        state.document_mut(doc).entry = entry.encode();
        Ok(true)
    }

    fn append(&self, doc: &str, update: &[u8]) -> Result<AppendReceipt, StoreError> {
        validate_document_id(doc)?;
        let mut state = self.state();
        let created = !state.documents.contains_key(doc);
        let mut entry = state.entry_or_new(doc)?;
        let seq = entry.record_append(update.len());
        let record =
            encode_record(RecordKind::Update, seq, update).map_err(StoreError::PayloadTooLarge)?;
        let document = state.document_mut(doc);
        document.log.insert(seq, record);
        document.entry = entry.encode();
        Ok(AppendReceipt {
            seq,
            log_records: entry.log_records,
            log_bytes: entry.log_bytes,
            created,
        })
    }

    fn change_log(&self) -> Option<&dyn ChangeLog> {
        Some(&self.changes)
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Nothing outlives the process, so there is nothing to make durable.
        Ok(())
    }

    fn compact(&self, doc: &str, snapshot: &[u8], through: Seq) -> Result<(), StoreError> {
        validate_document_id(doc)?;
        let mut state = self.state();
        let mut entry = state.entry_or_new(doc)?;
        entry.check_compaction(doc, through)?;
        let record = encode_record(RecordKind::Snapshot, through, snapshot)
            .map_err(StoreError::PayloadTooLarge)?;
        let document = state.document_mut(doc);
        document.log.retain(|seq, _| *seq > through);
        let remaining_bytes = document
            .log
            .values()
            .map(|raw| payload_length_of_stored(raw))
            .sum();
        entry.record_compaction(
            snapshot.len(),
            through,
            document.log.len() as u64,
            remaining_bytes,
        );
        document.snapshot = Some(record);
        document.entry = entry.encode();
        Ok(())
    }

    fn list(&self) -> Result<Vec<DocMeta>, StoreError> {
        metas(self.state().documents.iter())
    }

    fn list_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DocMeta>, StoreError> {
        let state = self.state();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        metas(
            state
                .documents
                .range::<str, _>((start, Bound::Unbounded))
                .take(limit),
        )
    }

    fn metadata(&self, doc: &str) -> Result<Option<DocMeta>, StoreError> {
        validate_document_id(doc)?;
        let state = self.state();
        state
            .documents
            .get(doc)
            .map(|document| Ok(decode_entry(doc, &document.entry)?.to_meta(doc)))
            .transpose()
    }

    fn delete(&self, doc: &str) -> Result<bool, StoreError> {
        validate_document_id(doc)?;
        Ok(self.state().documents.remove(doc).is_some())
    }

    fn create_version(
        &self,
        doc: &str,
        label: &str,
        snapshot: &[u8],
    ) -> Result<VersionMeta, StoreError> {
        validate_document_id(doc)?;
        validate_version_label(label)?;
        let mut state = self.state();
        let document = state
            .documents
            .get_mut(doc)
            .ok_or_else(|| StoreError::UnknownDocument {
                doc: doc.to_owned(),
            })?;
        // The sled store must read the entry to find the document's records;
        // decoding it here too keeps a corrupt entry an error in both.
        decode_entry(doc, &document.entry)?;
        let version = encode_version(document.next_version_id(), label, snapshot)?;
        let id = version.meta.id;
        document.version_entries.insert(id, version.entry);
        document.version_snapshots.insert(id, version.snapshot);
        Ok(version.meta)
    }

    fn list_versions(&self, doc: &str) -> Result<Vec<VersionMeta>, StoreError> {
        validate_document_id(doc)?;
        let state = self.state();
        let Some(document) = state.documents.get(doc) else {
            return Ok(Vec::new());
        };
        decode_entry(doc, &document.entry)?;
        document
            .version_entries
            .iter()
            .map(|(id, raw)| {
                decode_version_entry(*id, raw).map_err(|source| StoreError::CorruptVersion {
                    doc: doc.to_owned(),
                    version: *id,
                    source,
                })
            })
            .collect()
    }

    fn load_version(
        &self,
        doc: &str,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError> {
        validate_document_id(doc)?;
        let state = self.state();
        let Some(document) = state.documents.get(doc) else {
            return Ok(None);
        };
        decode_entry(doc, &document.entry)?;
        let Some(raw_entry) = document.version_entries.get(&version) else {
            return Ok(None);
        };
        let corrupt = |source| StoreError::CorruptVersion {
            doc: doc.to_owned(),
            version,
            source,
        };
        let meta = decode_version_entry(version, raw_entry).map_err(corrupt)?;
        let raw_snapshot = document.version_snapshots.get(&version);
        let snapshot =
            decode_version_snapshot(&meta, raw_snapshot.map(Vec::as_slice)).map_err(corrupt)?;
        Ok(Some((meta, snapshot)))
    }
}

impl RawRecordAccess for MemoryStore {
    fn read_raw(&self, doc: &str, slot: RawSlot) -> Option<Vec<u8>> {
        let state = self.state();
        let document = state.documents.get(doc)?;
        match slot {
            RawSlot::Entry => Some(document.entry.clone()),
            RawSlot::Snapshot => document.snapshot.clone(),
            RawSlot::Update(seq) => document.log.get(&seq).cloned(),
            RawSlot::VersionEntry(id) => document.version_entries.get(&id).cloned(),
            RawSlot::VersionSnapshot(id) => document.version_snapshots.get(&id).cloned(),
        }
    }

    fn write_raw(&self, doc: &str, slot: RawSlot, bytes: Option<&[u8]>) -> bool {
        let mut state = self.state();
        let Some(document) = state.documents.get_mut(doc) else {
            return false;
        };
        let bytes = bytes.map(<[u8]>::to_vec);
        match (slot, bytes) {
            (RawSlot::Entry, Some(bytes)) => document.entry = bytes,
            // An entry is what makes a document exist; removing it removes
            // the document, as it does in the sled layout.
            (RawSlot::Entry, None) => {
                state.documents.remove(doc);
            }
            (RawSlot::Snapshot, bytes) => document.snapshot = bytes,
            (RawSlot::Update(seq), Some(bytes)) => {
                document.log.insert(seq, bytes);
            }
            (RawSlot::Update(seq), None) => {
                document.log.remove(&seq);
            }
            (RawSlot::VersionEntry(id), bytes) => {
                set_or_remove(&mut document.version_entries, id, bytes);
            }
            (RawSlot::VersionSnapshot(id), bytes) => {
                set_or_remove(&mut document.version_snapshots, id, bytes);
            }
        }
        true
    }
}

/// Stores `bytes` under `key`, or removes the value when `None` (raw access only).
fn set_or_remove<Key: Ord>(map: &mut BTreeMap<Key, Vec<u8>>, key: Key, bytes: Option<Vec<u8>>) {
    match bytes {
        Some(bytes) => {
            map.insert(key, bytes);
        }
        None => {
            map.remove(&key);
        }
    }
}
