//! The change log: the durable outbox of events about documents (updated, created, deleted,
//! version created) that webhooks deliver and `GET /api/changes` streams.
//!
//! It is its own trait, reached through [`DocStore::change_log`](crate::DocStore::change_log),
//! because it is a second concern of the same database: in sled it lives in a tree of its own
//! beside the documents, so the store's one `flush` makes both durable together. That is what
//! the server relies on to never lose an event: it records a *pending change* for a document
//! with the first update of a debounce window, before the flush that makes the update durable,
//! and only later turns it into an event ([`ChangeLog::append_events`]) and settles the mark in
//! the same atomic write. A crash in between leaves the mark, which is turned into an event
//! after the restart. Deletions and versions are marked the same way, just before the store
//! writes them: their own flush makes the mark durable with them.
//!
//! Events are opaque bytes numbered by a sequence that starts at 1 and never goes back, even
//! when old events are trimmed (the trimmed-through point is stored). Consumers keep a cursor,
//! the sequence of the last event they have; each webhook's cursor is kept here too, so
//! delivery resumes where it stopped after a restart.

use crate::error::StoreError;

/// Which announcement a pending mark waits for. A document can have one of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PendingKind {
    /// Changes to the document (updates, its creation, its deletion).
    Change,
    /// A new version of the document.
    Version,
}

/// A document with a change not yet announced by an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingChange {
    /// The document.
    pub document: String,
    /// What it waits to announce.
    pub kind: PendingKind,
    /// A change that created the document is among those marked.
    pub created: bool,
    /// The document was being deleted when marked.
    pub deleted: bool,
    /// The mark written with it: settling succeeds only while the mark is still this one.
    pub mark: u64,
}

/// A pending mark to remove along with appending events, if it still has `mark`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle<'a> {
    /// Which of the document's marks.
    pub kind: PendingKind,
    /// The document.
    pub document: &'a str,
    /// The mark it was read with.
    pub mark: u64,
}

/// One stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its position in the log (1 for the first event ever).
    pub sequence: u64,
    /// The event as it was appended.
    pub payload: Vec<u8>,
}

/// Which events the log still holds: those after `trimmed_through`, through `last`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventRange {
    /// Every event up to this sequence has been trimmed (0: none ever was).
    pub trimmed_through: u64,
    /// The sequence of the last event appended (0: none ever was).
    pub last: u64,
}

/// A durable log of events, pending changes and delivery cursors.
///
/// Writes are visible at once and durable after the owning store's
/// [`DocStore::flush`](crate::DocStore::flush). All methods are blocking.
pub trait ChangeLog: Send + Sync {
    /// Records a pending [`PendingKind::Change`] for each `(document, created)`, with `mark`. A
    /// document already pending keeps its `created` and `deleted` if set, and takes the new
    /// mark.
    fn mark_pending(&self, changes: &[(&str, bool)], mark: u64) -> Result<(), StoreError>;

    /// Records, with `mark`, that `document` is about to be deleted (a pending
    /// [`PendingKind::Change`] with `deleted` set; `created` is kept).
    fn mark_deleting(&self, document: &str, mark: u64) -> Result<(), StoreError>;

    /// Records, with `mark`, that `document` is about to get a version.
    fn mark_versioning(&self, document: &str, mark: u64) -> Result<(), StoreError>;

    /// Every pending mark, by kind, then document id.
    fn pending_changes(&self) -> Result<Vec<PendingChange>, StoreError>;

    /// Appends `payloads` as consecutive events and, with `settle`, removes that pending mark if
    /// it still has the mark given, all in one atomic write. Returns the sequences given to the
    /// events.
    fn append_events(
        &self,
        payloads: &[Vec<u8>],
        settle: Option<Settle<'_>>,
    ) -> Result<Vec<u64>, StoreError>;

    /// Up to `limit` events with a sequence after `after`, oldest first.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// Which events are held.
    fn event_range(&self) -> Result<EventRange, StoreError>;

    /// Removes every event through `through` (never past the last one); trimming less than
    /// before does nothing.
    fn trim_events(&self, through: u64) -> Result<(), StoreError>;

    /// The sequence of the last event `subscriber` has taken, `None` for a subscriber never
    /// recorded (a new one).
    fn delivered_through(&self, subscriber: &str) -> Result<Option<u64>, StoreError>;

    /// Records that `subscriber` has taken every event through `through`.
    fn set_delivered_through(&self, subscriber: &str, through: u64) -> Result<(), StoreError>;
}
