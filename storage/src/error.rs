//! The one error type every `DocStore` operation returns.
//!
//! Each variant is a distinct failure a caller may want to react to
//! differently (retry, refuse the document id, tell the operator that another
//! process owns the data directory, ...), and each keeps its underlying cause
//! as a `source` so logs show the whole chain.

use std::path::PathBuf;
use std::sync::Arc;

use crate::document_entry::EntryError;
use crate::document_id::InvalidDocumentId;
use crate::record::RecordError;
use crate::store::Seq;
use crate::version::{InvalidVersionLabel, VersionId};
use crate::version_record::VersionRecordError;

/// Everything that can go wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The document id breaks the id rules (empty, longer than 512 bytes or
    /// containing a control character). Nothing was read or written.
    #[error("invalid document id")]
    InvalidDocumentId(#[from] InvalidDocumentId),

    /// Another process (or another `SledStore` in this process) has the data
    /// directory open. Opening gives up after a bounded grace period (about
    /// two seconds, to ride out locks that are already being released)
    /// instead of waiting indefinitely.
    #[error("data directory {path} is locked by another store instance or process")]
    Locked {
        /// The data directory that could not be locked.
        path: PathBuf,
        /// The failed lock attempt.
        #[source]
        source: std::io::Error,
    },

    /// The data directory was written with a storage layout version this
    /// build does not understand. Nothing was modified.
    #[error(
        "storage layout version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedFormat {
        /// The layout version found in the data directory.
        found: u32,
        /// The layout version this build reads and writes.
        supported: u32,
    },

    /// The layout version marker exists but is not a 4-byte version number,
    /// so the directory's layout cannot be trusted.
    #[error("storage layout version marker is unreadable ({length} bytes)")]
    UnreadableFormat {
        /// Length of the marker value found.
        length: usize,
    },

    /// A filesystem operation outside sled failed (creating the data
    /// directory or its lock file).
    #[error("I/O error on {path}")]
    Io {
        /// The path being worked on.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The embedded database reported an error (I/O, or corruption of its
    /// own files detected by its checksums).
    #[error("database error: {0}")]
    Database(#[from] sled::Error),

    /// A PostgreSQL statement or connection failed (`PostgresStore`): the server is down or
    /// unreachable, the connection broke, or it refused the statement. Usually transient: the
    /// store reconnects on its next operation. From `flush` it also means every append since the
    /// previous flush is gone (rolled back, never committed), whichever append's statement
    /// failed. Shared (`Arc`) because one failure is the answer to every append of a batch.
    #[error("PostgreSQL operation failed: {0}")]
    Postgres(#[source] Arc<postgres::Error>),

    /// Another node's claim on the PostgreSQL database conflicts with this one's (a node alone
    /// and another node, or a cluster and a node outside it). Nothing was written.
    #[error("the database is in use: {reason}")]
    DatabaseClaimed {
        /// Who holds it, and what to do.
        reason: &'static str,
    },

    /// An earlier write failed with an I/O error (a full disk, a failing
    /// device), after which this store makes nothing durable: writes and
    /// flushes are refused until it is opened again. Reads still work.
    #[error("storage cannot write since an earlier failure ({first_error}); restart to retry")]
    Unwritable {
        /// The first failure, with its OS error.
        first_error: String,
    },

    /// A document's bookkeeping entry is damaged, so its records cannot be
    /// located. `delete` still works and removes the entry.
    #[error("bookkeeping entry of document {doc:?} is corrupt")]
    CorruptEntry {
        /// The document whose entry failed to decode.
        doc: String,
        /// What was wrong with the entry.
        #[source]
        source: EntryError,
    },

    /// A compaction claimed to include updates that were never appended.
    #[error(
        "cannot compact document {doc:?} through seq {through}: last appended seq is {last_seq}"
    )]
    CompactBeyondLog {
        /// The document being compacted.
        doc: String,
        /// The requested `through`.
        through: Seq,
        /// The highest seq actually appended.
        last_seq: Seq,
    },

    /// A compaction would replace a newer snapshot with an older one (for
    /// example two compactions racing); applying it would lose updates.
    #[error(
        "cannot compact document {doc:?} through seq {through}: snapshot already covers seq {snapshot_through}"
    )]
    StaleCompaction {
        /// The document being compacted.
        doc: String,
        /// The requested `through`.
        through: Seq,
        /// What the current snapshot already covers.
        snapshot_through: Seq,
    },

    /// An update or snapshot is too large to frame as a record (over 4 GiB).
    #[error("payload cannot be stored")]
    PayloadTooLarge(#[source] RecordError),

    /// The operation needs an existing document (creating a version of one) and there is none.
    /// Nothing was written.
    #[error("document {doc:?} does not exist")]
    UnknownDocument {
        /// The document that was asked for.
        doc: String,
    },

    /// A version label breaks the label rules (longer than 256 bytes or containing a control
    /// character). Nothing was written.
    #[error("invalid version label")]
    InvalidVersionLabel(#[from] InvalidVersionLabel),

    /// One version's stored records are damaged, so it cannot be listed or loaded. The document
    /// and its other versions are unaffected; `delete` of the document still removes it.
    #[error("version {version} of document {doc:?} is corrupt")]
    CorruptVersion {
        /// The document the version belongs to.
        doc: String,
        /// The damaged version.
        version: VersionId,
        /// What was wrong with its records.
        #[source]
        source: VersionRecordError,
    },

    /// A value in the change log (a pending change, a cursor, the trimmed-through point) does
    /// not decode.
    #[error("change log {what} is corrupt")]
    ChangeLogCorrupt {
        /// Which kind of value.
        what: String,
    },
}
