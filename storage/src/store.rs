//! The `DocStore` contract and the plain data types that cross it.
//!
//! The trait is deliberately blocking and object-safe: the server holds an
//! `Arc<dyn DocStore>` and calls it from `spawn_blocking`, and tests run one
//! suite against every implementation through `&dyn DocStore`. Updates and
//! snapshots are opaque bytes; merging them is the caller's business, so this
//! crate never depends on the CRDT library.

use std::time::SystemTime;

use crate::change_log::ChangeLog;
use crate::document_kind::DocumentKind;
use crate::error::StoreError;
use crate::record::{RecordError, RecordKind};
use crate::version::{VersionId, VersionMeta};

/// Position of an update in one document's log.
///
/// Sequence numbers start at 1 for a document's first append, grow by one per
/// append and are never reused while the document exists (compaction does not
/// reset them). `Seq(0)` means "before the first update".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

impl Seq {
    /// The position before any update: a snapshot "through `Seq::ZERO`"
    /// contains no logged updates.
    pub const ZERO: Seq = Seq(0);

    /// The sequence number that follows this one.
    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

impl std::fmt::Display for Seq {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(formatter)
    }
}

/// One update as loaded from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedUpdate {
    /// Where the update sits in the document's log.
    pub seq: Seq,
    /// The update exactly as it was appended.
    pub bytes: Vec<u8>,
}

/// Everything needed to rebuild a document: its latest snapshot and the
/// updates appended after it, in append order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedDoc {
    /// The latest snapshot, if the document has ever been compacted and the
    /// snapshot record is intact.
    pub snapshot: Option<Vec<u8>>,
    /// The last update seq the snapshot includes (`Seq::ZERO` without one).
    pub snapshot_through: Seq,
    /// Updates after the snapshot, in seq order, up to the first damaged or
    /// missing record.
    pub updates: Vec<LoadedUpdate>,
    /// The highest seq ever appended to the document, whether or not it was
    /// loaded. Compacting through this seq covers every stored record, which
    /// is how a caller can deliberately drop a corrupt tail.
    pub last_seq: Seq,
    /// Set when loading stopped early because a record was damaged, misplaced
    /// or missing; everything before it was returned.
    pub corruption: Option<Corruption>,
}

impl LoadedDoc {
    /// The last seq whose content is reflected in this load (snapshot plus
    /// updates). Equal to `last_seq` unless loading hit corruption.
    pub fn loaded_through(&self) -> Seq {
        self.updates
            .last()
            .map_or(self.snapshot_through, |update| update.seq)
    }
}

/// Which stored record a corruption report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordLocation {
    /// The document's snapshot.
    Snapshot,
    /// The update at this seq.
    Update(Seq),
}

/// Why a record could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorruptionReason {
    /// The stored bytes fail to decode: torn, truncated or bit-flipped.
    Damaged(RecordError),
    /// The bytes decode cleanly but describe a different record (wrong kind
    /// or seq) than the key they are stored under.
    Misplaced {
        /// Kind named in the record's header.
        found_kind: RecordKind,
        /// Seq named in the record's header.
        found_seq: Seq,
    },
    /// The document's bookkeeping says this record exists but it is absent.
    Missing,
}

/// A report that loading stopped before the end of a document's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The first record that could not be used.
    pub location: RecordLocation,
    /// What was wrong with it.
    pub reason: CorruptionReason,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location {
            RecordLocation::Snapshot => write!(formatter, "snapshot")?,
            RecordLocation::Update(seq) => write!(formatter, "update {seq}")?,
        }
        match &self.reason {
            CorruptionReason::Damaged(error) => write!(formatter, " is damaged: {error}"),
            CorruptionReason::Misplaced {
                found_kind,
                found_seq,
            } => write!(
                formatter,
                " holds a misplaced record ({found_kind:?} at seq {found_seq})"
            ),
            CorruptionReason::Missing => write!(formatter, " is missing"),
        }
    }
}

/// What an append reports back, so the caller can decide when to compact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The seq assigned to the appended update.
    pub seq: Seq,
    /// Records in the log since the last snapshot, this one included.
    pub log_records: u64,
    /// Payload bytes in the log since the last snapshot, this one included.
    pub log_bytes: u64,
    /// This append created the document: it did not exist before (what
    /// announces `document.created` to the change log's readers).
    pub created: bool,
}

/// A document's size and activity, without its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocMeta {
    /// The document id.
    pub id: String,
    /// Payload bytes held: snapshot plus log (record headers excluded).
    pub bytes: u64,
    /// Payload bytes in the log since the last snapshot.
    pub log_bytes: u64,
    /// Records in the log since the last snapshot.
    pub log_records: u64,
    /// The highest seq appended so far.
    pub last_seq: Seq,
    /// When the document was last appended to or compacted (millisecond
    /// precision, as stored).
    pub updated_at: SystemTime,
    /// The document's entry failed its checksum: the figures above are
    /// unknown (zero). `load` and `metadata` report the damage; `delete`
    /// clears it. Listings show such a document rather than failing whole.
    pub damaged: bool,
    /// Text or rich text, as chosen at creation ([`DocumentKind::Text`] for
    /// a damaged entry, whose kind is unknown).
    pub kind: DocumentKind,
}

impl DocMeta {
    /// What a listing says of document `id` whose entry cannot be read.
    pub fn damaged(id: &str) -> Self {
        DocMeta {
            id: id.to_owned(),
            bytes: 0,
            log_bytes: 0,
            log_records: 0,
            last_seq: Seq::ZERO,
            updated_at: SystemTime::UNIX_EPOCH,
            damaged: true,
            kind: DocumentKind::Text,
        }
    }
}

/// Durable storage for documents as a snapshot plus an append-only log, and
/// for named versions of them.
///
/// All methods are blocking. Implementations are safe to share between
/// threads; operations on one document are serialized, so a concurrent
/// `load` never sees a half-applied `compact`.
pub trait DocStore: Send + Sync + 'static {
    /// The document's latest snapshot plus every update appended after it.
    /// An unknown document loads as an empty [`LoadedDoc`], not an error.
    fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError>;

    /// What [`DocStore::load`] gives, but only what is durable: appends not yet flushed are left
    /// out. A node sharing the store with others reads this to learn what they stored, so that
    /// nothing it counts as stored can still be rolled back. Stores whose appends cannot be rolled
    /// back (they become durable with a later flush) load as `load` does.
    fn load_committed(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        self.load(doc)
    }

    /// Creates an empty document of `kind`, durably. Returns `false`, and
    /// changes nothing, if a document `id` already exists (even one whose entry
    /// is damaged). A document created by its first append instead is
    /// [`DocumentKind::Text`].
    fn create(&self, doc: &str, kind: DocumentKind) -> Result<bool, StoreError>;

    /// Appends one update to the document's log, creating the document if
    /// needed. The append is visible to `load` at once but only durable once
    /// [`DocStore::flush`] (or a later `compact`/`delete`) returns.
    fn append(&self, doc: &str, update: &[u8]) -> Result<AppendReceipt, StoreError>;

    /// Appends several updates, to one document or several, in order: what
    /// [`DocStore::append`] of each in turn would do, with one receipt or error
    /// per append. A store may write them all as one (sled: one batch, so one
    /// log write where separate appends cost one each), and a failure of that
    /// write is then every append's; an append refused on its own (a bad id,
    /// a damaged entry, an oversized payload) fails alone.
    fn append_many(&self, appends: &[(&str, &[u8])]) -> Vec<Result<AppendReceipt, StoreError>> {
        appends
            .iter()
            .map(|(doc, update)| self.append(doc, update))
            .collect()
    }

    /// Makes every append so far, across all documents, durable. Batching
    /// many appends behind one flush is the intended group commit.
    fn flush(&self) -> Result<(), StoreError>;

    /// Upkeep that must not hold up a flush: the sled store folds its oldest append-log
    /// segments into sled once too many have piled up. Callers run it after flushes, from a
    /// thread of their own, one call at a time; it does nothing when nothing is due.
    fn maintain(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Gives up the appends not yet flushed, where the store can (PostgreSQL rolls back its open
    /// transaction, freeing its row locks); a caller that will not flush them (storage refused
    /// the batch meanwhile) calls it so they never become durable behind its back. Stores that
    /// cannot give them up keep them for the next flush.
    fn discard_unflushed(&self) {}

    /// Bytes the store's filesystem has free for it, if the store lives on
    /// one. Callers keep writes clear of a full disk with it: a store whose
    /// write failed makes nothing durable again until reopened
    /// ([`StoreError::Unwritable`]).
    fn available_bytes(&self) -> Option<u64> {
        None
    }

    /// Whether the store can be reached now: `Ok` for a store in this process, a round trip to
    /// the server for one on a database server. A caller that saw the store fail as unreachable
    /// ([`StoreError::Postgres`]) asks this to learn when to write again.
    fn check_reachable(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Atomically replaces the document's snapshot with `snapshot` and
    /// removes every log record with seq <= `through`; later records stay.
    /// Durable when it returns.
    ///
    /// `through` must not exceed the last appended seq
    /// ([`StoreError::CompactBeyondLog`]) nor precede the current snapshot's
    /// ([`StoreError::StaleCompaction`]). Compacting an unknown document
    /// through `Seq::ZERO` creates it with that snapshot (an import).
    fn compact(&self, doc: &str, snapshot: &[u8], through: Seq) -> Result<(), StoreError>;

    /// Every document's metadata, sorted by id (byte-wise, which for UTF-8
    /// is code-point order). A document whose entry is damaged is listed
    /// with [`DocMeta::damaged`] set instead of failing the whole listing.
    fn list(&self) -> Result<Vec<DocMeta>, StoreError>;

    /// Up to `limit` documents with ids strictly after `after` (from the
    /// start when `None`), sorted by id. Pass the last id of one page as
    /// `after` to get the next.
    fn list_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DocMeta>, StoreError>;

    /// One document's metadata, or `None` if it does not exist.
    fn metadata(&self, doc: &str) -> Result<Option<DocMeta>, StoreError>;

    /// Removes the document's snapshot, log, versions and metadata atomically
    /// and durably. Returns whether the document existed.
    fn delete(&self, doc: &str) -> Result<bool, StoreError>;

    /// Keeps `snapshot` (opaque; Quire passes a Yjs update of the whole
    /// document) as a new named version of the document and describes it.
    /// Durable when it returns.
    ///
    /// The document must exist ([`StoreError::UnknownDocument`]) and the
    /// label must be valid ([`StoreError::InvalidVersionLabel`]: at most 256
    /// bytes, no control characters; empty is fine). The version receives the
    /// next id of the document (1 for its first). Versions are not part of
    /// [`DocMeta`]'s sizes, compaction leaves them alone, and only
    /// [`DocStore::delete`] of the document removes them; a document deleted
    /// and created again starts its versions from 1.
    fn create_version(
        &self,
        doc: &str,
        label: &str,
        snapshot: &[u8],
    ) -> Result<VersionMeta, StoreError>;

    /// The document's versions, oldest (lowest id) first, without their
    /// snapshots. An unknown document has none. A damaged version entry fails
    /// the listing with [`StoreError::CorruptVersion`] naming it, rather than
    /// leaving it out silently.
    fn list_versions(&self, doc: &str) -> Result<Vec<VersionMeta>, StoreError>;

    /// One version and its snapshot, or `None` if the document or the
    /// version does not exist. Damage to either of its records is
    /// [`StoreError::CorruptVersion`]; other versions still load.
    fn load_version(
        &self,
        doc: &str,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError>;

    /// The store's change log (see [`ChangeLog`]), if it keeps one: written in the same
    /// database, so [`DocStore::flush`] makes it durable too.
    fn change_log(&self) -> Option<&dyn ChangeLog> {
        None
    }
}
