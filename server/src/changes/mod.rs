//! The change feed: events about documents, recorded durably in the store's change log, then
//! delivered to webhooks ([`crate::webhooks`]) and streamed at `GET /api/changes`.
//!
//! [`ChangeJournal`] is the one writer of the change log. It is shaped by one promise: an
//! update that became durable is announced even if the server is killed the moment after. So
//! the group-commit writer asks it, for each batch, which documents need a *pending mark*
//! (those without an open debounce window, or just created) and writes those marks before the
//! batch's flush: the flush that makes the updates durable makes their marks durable too. When
//! the window ends, the emitter ([`emitter`]) reads the document's state vector, appends the
//! event and settles the mark in one atomic write, then flushes. At start, every mark still in
//! the store is announced at once. A mark costs one small write per document per window, not
//! per update.
//!
//! Deletions and versions are marked by [`crate::room::Storage`] just before the store writes
//! them ([`ChangeJournal::intend`]), so the write's own flush makes the mark durable with it, and
//! announced right after; a mark left by a crash is announced at start if the write happened.

mod debouncer;
mod emitter;
pub(crate) mod event;
pub(crate) mod retention;
mod state_vector;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use storage::{ChangeLog, DocStore, PendingKind, Settle, StoreError};
use tokio::sync::{Notify, watch};
use tracing::warn;

use self::debouncer::{Debouncer, DueChange};
pub(crate) use self::emitter::run_emitter;
use self::event::{Event, EventBody};
pub(crate) use self::state_vector::state_vector_of;

/// The `version.created` event of version `meta` of `document`, holding `snapshot`.
pub(crate) fn version_event(
    document: &str,
    meta: &storage::VersionMeta,
    snapshot: &[u8],
) -> EventBody {
    let vector = state_vector_of(Some(snapshot), []);
    let mut body = EventBody::new(event::EventType::VersionCreated, document, Some(&vector));
    body.version_id = Some(meta.id.to_string());
    body
}

/// The default debounce window of `document.updated`.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(2);

/// What a reader gets from [`ChangeJournal::read_page`].
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// The events, in order.
    pub(crate) events: Vec<Event>,
    /// The sequence of the last event read (the cursor when none was).
    pub(crate) through: u64,
    /// Retention trimmed events after the cursor: the reader has missed some.
    pub(crate) expired: bool,
}

/// Documents the writer marked as pending in one batch, scheduled once the batch is durable.
#[derive(Debug, Default)]
pub(crate) struct Marked {
    mark: u64,
    documents: Vec<(Arc<str>, bool)>,
}

impl Marked {
    /// Whether `document` got a mark.
    pub(crate) fn covers(&self, document: &str) -> bool {
        self.documents
            .iter()
            .any(|(marked, _)| &**marked == document)
    }
}

/// The change log's writer, and what waits on it.
pub(crate) struct ChangeJournal {
    store: Arc<dyn DocStore>,
    debouncer: Mutex<Debouncer>,
    /// Wakes the emitter when a window opens.
    wake: Notify,
    /// The sequence of the last recorded event, for live readers.
    latest: watch::Sender<u64>,
    /// The next pending mark; starts from the clock so marks left from before a restart are
    /// never reused.
    next_mark: AtomicU64,
    /// Versions marked pending when the server stopped, for the emitter to announce at start.
    recovered_versions: Mutex<Vec<(String, u64)>>,
    /// Held from reading a document's state to recording its event, by the emitter and by the
    /// direct announcements (create, delete, version), so events come in the order of what
    /// they announce: never a window's `document.updated` after the `document.deleted` of a
    /// delete that ran while the window's state was read.
    announcing: Mutex<()>,
}

impl ChangeJournal {
    /// The journal of `store`'s change log, if it keeps one, with windows of `window`. Marks left
    /// in the store are taken up by [`ChangeJournal::recover`].
    pub(crate) fn open(store: Arc<dyn DocStore>, window: Duration) -> Option<Arc<Self>> {
        let range = match store.change_log()?.event_range() {
            Ok(range) => range,
            Err(error) => {
                warn!(%error, "the change log cannot be read; no events will be recorded");
                return None;
            }
        };
        let first_mark = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64);
        Some(Arc::new(ChangeJournal {
            debouncer: Mutex::new(Debouncer::new(window)),
            wake: Notify::new(),
            latest: watch::Sender::new(range.last),
            next_mark: AtomicU64::new(first_mark),
            recovered_versions: Mutex::new(Vec::new()),
            announcing: Mutex::new(()),
            store,
        }))
    }

    /// Blocking, once at start: every mark a previous server left in the store is due at once
    /// (its versions go to [`ChangeJournal::take_recovered_versions`]).
    pub(crate) fn recover(&self) -> Result<(), StoreError> {
        let pending = self.log().pending_changes()?;
        let now = Instant::now();
        let mut debouncer = self.debouncer();
        let mut versions = Vec::new();
        for change in pending {
            if change.kind == PendingKind::Version {
                versions.push((change.document, change.mark));
                continue;
            }
            let change = DueChange {
                document: change.document.into(),
                mark: change.mark,
                created: change.created,
                deleted: change.deleted,
            };
            debouncer.retry(change, now);
        }
        drop(debouncer);
        *self
            .recovered_versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = versions;
        Ok(())
    }

    /// The change log.
    pub(crate) fn log(&self) -> &dyn ChangeLog {
        self.store
            .change_log()
            .expect("a journal is only opened on a store with a change log")
    }

    /// The store the journal reads documents from.
    pub(crate) fn store(&self) -> &dyn DocStore {
        self.store.as_ref()
    }

    fn debouncer(&self) -> MutexGuard<'_, Debouncer> {
        self.debouncer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// On the writer thread, before the flush of a batch that changed `changes` (document, and
    /// whether the batch created it): writes a pending mark for each document that needs one.
    pub(crate) fn mark(&self, changes: &[(Arc<str>, bool)]) -> Result<Marked, StoreError> {
        // A batch may hold thousands of documents: deduplicated by hash, not by scanning.
        let mut needed: HashMap<Arc<str>, bool> = HashMap::new();
        {
            let debouncer = self.debouncer();
            for (document, created) in changes {
                if !*created && debouncer.is_waiting(document) {
                    continue;
                }
                *needed.entry(document.clone()).or_default() |= created;
            }
        }
        let documents: Vec<(Arc<str>, bool)> = needed.into_iter().collect();
        let mark = self.new_mark();
        if !documents.is_empty() {
            let names: Vec<(&str, bool)> = documents
                .iter()
                .map(|(document, created)| (&**document, *created))
                .collect();
            self.log().mark_pending(&names, mark)?;
        }
        Ok(Marked { mark, documents })
    }

    fn new_mark(&self) -> u64 {
        self.next_mark.fetch_add(1, Ordering::Relaxed)
    }

    /// Blocking, before the store deletes `document` ([`PendingKind::Change`]) or keeps a
    /// version of it ([`PendingKind::Version`]): marks the announcement pending, so the write's
    /// own flush makes the mark durable with it. The mark, or `None` (logged) if it could not be
    /// written; the write goes ahead either way.
    pub(crate) fn intend(&self, kind: PendingKind, document: &str) -> Option<u64> {
        let mark = self.new_mark();
        let marked = match kind {
            PendingKind::Change => self.log().mark_deleting(document, mark),
            PendingKind::Version => self.log().mark_versioning(document, mark),
        };
        match marked {
            Ok(()) => Some(mark),
            Err(error) => {
                warn!(%error, document, "could not mark a change pending");
                None
            }
        }
    }

    /// Blocking, before the store creates `document` explicitly: marks it pending as created, so
    /// the creation's own flush makes the mark durable and a crash before the announcement
    /// still announces `document.created` at start. The mark, or `None` (logged).
    pub(crate) fn intend_creation(&self, document: &str) -> Option<u64> {
        let mark = self.new_mark();
        match self.log().mark_pending(&[(document, true)], mark) {
            Ok(()) => Some(mark),
            Err(error) => {
                warn!(%error, document, "could not mark a creation pending");
                None
            }
        }
    }

    /// Blocking: holds announcements back while the caller reads and writes what its event will
    /// announce (see the field's comment); the order of events follows the order of holds.
    pub(crate) fn hold_announcements(&self) -> MutexGuard<'_, ()> {
        self.announcing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocking: the write [`ChangeJournal::intend`] marked did not happen: drops the mark.
    pub(crate) fn withdraw(&self, kind: PendingKind, document: &str, mark: u64) {
        let settle = Settle {
            kind,
            document,
            mark,
        };
        if let Err(error) = self.log().append_events(&[], Some(settle)) {
            warn!(%error, document, "could not drop a pending mark");
        }
    }

    /// The versions marked pending when the server last stopped (once).
    pub(crate) fn take_recovered_versions(&self) -> Vec<(String, u64)> {
        std::mem::take(
            &mut self
                .recovered_versions
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The batch `marked` came from is durable: opens (or joins) each document's window.
    pub(crate) fn durable(&self, marked: Marked) {
        if marked.documents.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut debouncer = self.debouncer();
        for (document, created) in marked.documents {
            debouncer.change(document, marked.mark, created, now);
        }
        drop(debouncer);
        self.wake.notify_one();
    }

    /// Blocking: appends `bodies` as events (settling a pending change with `settle`); they are
    /// neither durable nor shown to readers until [`ChangeJournal::publish`]. The sequence of
    /// the last one, if any.
    pub(crate) fn append(
        &self,
        bodies: &[EventBody],
        settle: Option<Settle<'_>>,
    ) -> Result<Option<u64>, StoreError> {
        let payloads: Vec<Vec<u8>> = bodies.iter().map(EventBody::to_stored).collect();
        let sequences = self.log().append_events(&payloads, settle)?;
        for body in bodies {
            metrics::counter!(crate::telemetry::CHANGE_EVENTS, "type" => body.kind.name())
                .increment(1);
        }
        Ok(sequences.last().copied())
    }

    /// Blocking: makes every event appended so far durable, then shows readers those through
    /// `last`. Readers never see an event before it is durable: one lost in a crash would
    /// otherwise have been delivered, and its id given again to another event.
    pub(crate) fn publish(&self, last: Option<u64>) -> Result<(), StoreError> {
        self.store.flush()?;
        if let Some(last) = last {
            self.latest.send_if_modified(|latest| {
                let newer = last > *latest;
                *latest = (*latest).max(last);
                newer
            });
        }
        Ok(())
    }

    /// Blocking: appends `bodies` and publishes them.
    pub(crate) fn record(
        &self,
        bodies: &[EventBody],
        settle: Option<Settle<'_>>,
    ) -> Result<(), StoreError> {
        let last = self.append(bodies, settle)?;
        self.publish(last)
    }

    /// The last event readers may see: appended and durable.
    pub(crate) fn published(&self) -> u64 {
        *self.latest.borrow()
    }

    /// [`ChangeJournal::read_page`] on the blocking pool.
    pub(crate) async fn next_page(
        self: &Arc<Self>,
        cursor: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let journal = self.clone();
        tokio::task::spawn_blocking(move || journal.read_page(cursor, limit))
            .await
            .unwrap_or_else(|_| {
                Ok(Page {
                    through: cursor,
                    ..Page::default()
                })
            })
    }

    /// Blocking: up to `limit` published events after `cursor`, for a reader. An event whose
    /// stored bytes do not decode is logged and passed over (the page's `through` still moves
    /// past it, so a reader never stalls on one).
    pub(crate) fn read_page(&self, cursor: u64, limit: usize) -> Result<Page, StoreError> {
        // Read first: events after it may not be durable yet.
        let published = self.published();
        let log = self.log();
        let stored = log.events_after(cursor, limit)?;
        let expired = cursor < log.event_range()?.trimmed_through;
        let mut page = Page {
            events: Vec::with_capacity(stored.len()),
            through: cursor,
            expired,
        };
        for stored in stored.iter().filter(|event| event.sequence <= published) {
            page.through = stored.sequence;
            match Event::from_stored(stored) {
                Ok(event) => page.events.push(event),
                Err(error) => {
                    warn!(sequence = stored.sequence, %error, "passing over an unreadable change event");
                }
            }
        }
        Ok(page)
    }

    /// Blocking: records one event announcing a write that is already durable, settling the
    /// mark [`ChangeJournal::intend`] wrote for it; a failure is logged, not returned, since the
    /// write itself succeeded (and its mark, if durable, announces it after a restart).
    pub(crate) fn announce(&self, body: EventBody, settle: Option<Settle<'_>>) {
        let kind = body.kind.name();
        if let Err(error) = self.record(&[body], settle) {
            warn!(%error, event = kind, "could not record a change event");
        }
    }

    /// The sequence of the last recorded event, changing as events are recorded.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }
}

#[cfg(test)]
mod tests;
