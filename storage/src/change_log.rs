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
//! after the restart.
//!
//! Events are opaque bytes numbered by a sequence that starts at 1 and never goes back, even
//! when old events are trimmed (the trimmed-through point is stored). Consumers keep a cursor,
//! the sequence of the last event they have; each webhook's cursor is kept here too, so
//! delivery resumes where it stopped after a restart.

use crate::error::StoreError;

/// A document with a change not yet announced by an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingChange {
    /// The document.
    pub document: String,
    /// The change created the document.
    pub created: bool,
    /// The mark written with it: settling succeeds only while the mark is still this one.
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
    /// Records a pending change for each `(document, created)`, with `mark`. A document already
    /// pending keeps its `created` if set, and takes the new mark.
    fn mark_pending(&self, changes: &[(&str, bool)], mark: u64) -> Result<(), StoreError>;

    /// Every pending change, by document id.
    fn pending_changes(&self) -> Result<Vec<PendingChange>, StoreError>;

    /// Appends `payloads` as consecutive events and, with `settle = Some((document, mark))`,
    /// removes that document's pending change if its mark is still `mark`, all in one atomic
    /// write. Returns the sequences given to the events.
    fn append_events(
        &self,
        payloads: &[Vec<u8>],
        settle: Option<(&str, u64)>,
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
