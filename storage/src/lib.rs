//! Durable document storage for Quire.
//!
//! A document is stored as an optional **snapshot** plus an append-only
//! **log** of updates made after it. The server appends every update it
//! accepts, calls [`DocStore::flush`] once per batch (group commit), and now
//! and then [`DocStore::compact`]s: it merges snapshot and log into a new
//! snapshot and the store swaps it in while dropping the covered records, in
//! one atomic step. The store never interprets the bytes: merging is done by
//! the caller with the CRDT library, so this crate knows nothing about Yjs.
//!
//! Three implementations share one contract and one test suite:
//! [`SledStore`] on disk (the default), [`PostgresStore`] in a PostgreSQL
//! database that several nodes share, and [`MemoryStore`] for tests.
//!
//! On disk (layout version 1, see `sled_keys` and `docs/architecture.md`):
//!
//! ```text
//! <data dir>/quire.lock                        exclusive lock, held while open
//! <data dir>/sled/  default tree: "format"     -> u32 BE layout version
//!                   tree "documents":
//!                     'i' ‖ id                 -> document entry record
//!                     'd' ‖ number ‖ 's'       -> snapshot record
//!                     'd' ‖ number ‖ 'u' ‖ seq -> update record
//!                     'd' ‖ number ‖ 'v' ‖ id  -> version entry record
//!                     'd' ‖ number ‖ 'w' ‖ id  -> version snapshot record
//!                   tree "changes": the change log (see `sled_change_log`)
//! <data dir>/appends/  NNNNNNNNNNNNNNNNNNNN.segment: appended updates, framed
//!                      (`append_log`), until a compaction or a fold moves them into sled
//! ```
//!
//! Besides its snapshot and log, a document can hold named **versions**
//! ([`DocStore::create_version`]): full-state snapshots kept under a label
//! until the document is deleted, untouched by compaction.
//!
//! Every stored value is a CRC-32-checked [record] naming its kind and
//! seq, so damage is detected on load: the document loads up to the last good
//! record and [`LoadedDoc::corruption`] says what stopped it.
//!
//! In PostgreSQL (schema version 1, migrated at connect; see `postgres_store`):
//!
//! ```text
//! schema_version(version PK, applied_at)       migrations applied
//! documents(id text COLLATE "C" PK, kind, last_seq, snapshot bytea NULL,
//!           snapshot_through, log_records, log_bytes, updated_at, next_version)
//! updates(document FK ON DELETE CASCADE, seq, bytes, PK(document, seq))
//! versions(document FK ON DELETE CASCADE, id, label, created_at, snapshot,
//!          PK(document, id))
//! ```
//!
//! There values are stored raw (PostgreSQL checksums its own pages); a gap in
//! the log is still reported as a missing record, and a document row with
//! impossible values as [`StoreError::CorruptEntry`]. It keeps no change log
//! yet.
//!
//! [`SledStore`]'s flush is durable against a power cut, not only `kill -9`:
//! it calls `fdatasync` on the append log's segments and, when sled was written,
//! follows sled's own flush (whose `sync_file_range` does not count) with
//! `fdatasync` on sled's files and `fsync` on their directories (`sled_sync`).

mod append_log;
mod change_log;
mod data_directory;
mod document_entry;
mod document_id;
mod document_kind;
mod document_locks;
mod error;
mod hooked_store;
mod load;
mod memory_change_log;
mod memory_store;
mod postgres_store;
pub mod record;
mod sled_change_log;
mod sled_gate;
mod sled_keys;
mod sled_store;
mod sled_sync;
mod store;
#[doc(hidden)]
pub mod testing;
mod version;
mod version_record;
mod write_latch;

pub use append_log::AppendLogLimits;
pub use change_log::{ChangeLog, EventRange, PendingChange, PendingKind, Settle, StoredEvent};
pub use document_entry::EntryError;
pub use document_id::{InvalidDocumentId, MAX_DOCUMENT_ID_BYTES, validate_document_id};
pub use document_kind::{DocumentKind, UnknownDocumentKind};
pub use error::StoreError;
pub use memory_store::MemoryStore;
pub use postgres_store::{DatabaseClaim, PostgresStore, Sharing};
pub use record::{Record, RecordError, RecordKind, decode_record, encode_record};
pub use sled_keys::LAYOUT_VERSION;
pub use sled_store::{DEFAULT_CACHE_BYTES, SledStore};
pub use store::{
    AppendReceipt, Corruption, CorruptionReason, DocMeta, DocStore, LoadedDoc, LoadedUpdate,
    RecordLocation, Seq,
};
pub use version::{
    InvalidVersionId, InvalidVersionLabel, MAX_VERSION_LABEL_BYTES, VersionId, VersionMeta,
    validate_version_label,
};
pub use version_record::VersionRecordError;
