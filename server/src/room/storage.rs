//! One way to the store: every write and read of documents goes through [`Storage`].
//!
//! Rooms, the HTTP API and shutdown reach the [`DocStore`] only here, so there is one place that
//! keeps blocking sled work off the async workers, counts and times every storage operation
//! (`quire_storage_seconds{operation}`), and turns store errors into one error type.
//!
//! Updates go through the group-commit writer: rooms hand their accepted updates to one writer
//! thread and wait for its answer before sending those updates to anyone. The thread appends
//! everything that arrived while it was busy, from every room, then flushes once: one flush
//! covers the whole batch, so throughput grows with load instead of collapsing under it. The
//! writer is a plain OS thread. Other operations (loads, compactions, deletes, versions) are
//! rarer and larger; they run in parallel with the writer: loads on tokio's blocking pool, the
//! whole-snapshot writes on the heavy lane, below the async workers' priority.
//!
//! With [`Durability::Relaxed`] the writer answers after appending, without waiting for the flush;
//! sled then flushes on its own timer, and a crash can lose the updates of the last moments.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use storage::{
    DocMeta, DocStore, DocumentKind, LoadedDoc, PendingKind, Seq, Settle, StoreError, VersionId,
    VersionMeta,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::heavy_lane::{HeavyLane, panic_message};
use super::storage_error::is_storage_failure;
use super::storage_health::{Outage, PROBE_INTERVAL, StorageHealth};
use super::writer::{CommitRequest, PersistResult, WriterSettings, run_writer};
pub use super::writer::{Durability, PersistenceCounters, StorageError};
use crate::changes::event::{EventBody, EventType};
use crate::changes::{ChangeJournal, version_event};
use crate::telemetry;

/// Requests waiting for the writer before rooms feel back-pressure.
const WRITER_QUEUE_REQUESTS: usize = 4096;

/// A persist handed to the writer; await it for the outcome.
pub struct PersistTicket(oneshot::Receiver<PersistResult>);

impl PersistTicket {
    /// Waits until the updates are durable (per the durability mode), or could not be made so.
    pub async fn outcome(self) -> PersistResult {
        self.0.await.map_err(|_| StorageError::WriterStopped)?
    }
}

/// How storage is written: durability, and the limits that tell a failing store.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// How strictly updates are made durable before anyone sees them.
    pub durability: Durability,
    /// The longest a flush may take before storage counts as failed.
    pub flush_timeout: Duration,
    /// Bytes kept free on the data directory's filesystem: edits are refused below that.
    pub reserve_bytes: u64,
    /// Where the store lives, named in what the operator is told when it fails.
    pub data_directory: Option<std::path::PathBuf>,
    /// The debounce window of `document.updated` events (see [`crate::changes`]).
    pub change_debounce: Duration,
    /// Whether change events are recorded at all (`--change-feed`).
    pub change_feed: bool,
}

impl StorageSettings {
    /// `durability` with the default limits.
    pub fn with_durability(durability: Durability) -> Self {
        StorageSettings {
            durability,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
            data_directory: None,
            change_debounce: crate::changes::DEFAULT_DEBOUNCE,
            change_feed: true,
        }
    }
}

/// How long a flush may take by default: far beyond a slow disk's worst `fdatasync`.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes kept free by default: room for sled's own files (logs, snapshots) besides the batch.
pub const DEFAULT_RESERVE_BYTES: u64 = 64 * 1024 * 1024;

/// Whole-snapshot writes (compactions, versions, deletes) run at once on the blocking pool, at
/// most this many. Each ends with its own flush; when thousands of clients leave together, every
/// emptied room compacts at the same moment, and unbounded they all contended for one store at
/// once. Measured on the teardown of W3's 2,000 rooms (release, one core, two alternated pairs):
/// 0.67-0.77 s and 57-64 ticks of CPU until the server was idle, against 0.55-0.66 s and 48-54
/// ticks with the bound.
pub const MAX_CONCURRENT_SNAPSHOT_WRITES: usize = 4;

/// The store, and the writer thread in front of it; cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn DocStore>,
    requests: mpsc::Sender<CommitRequest>,
    counters: Arc<PersistenceCounters>,
    health: Arc<StorageHealth>,
    /// Places for whole-snapshot writes (see [`MAX_CONCURRENT_SNAPSHOT_WRITES`]).
    snapshot_writes: Arc<Semaphore>,
    /// The low-priority threads those writes run on.
    snapshot_lane: HeavyLane,
    /// Records change events, when the store keeps a change log.
    journal: Option<Arc<ChangeJournal>>,
}

impl Storage {
    /// Starts the writer thread over `store`, and the probe that notices space coming back.
    pub fn start(store: Arc<dyn DocStore>, settings: StorageSettings) -> Self {
        let (requests, receiver) = mpsc::channel(WRITER_QUEUE_REQUESTS);
        let counters = Arc::new(PersistenceCounters::default());
        let health = Arc::new(
            StorageHealth::new(settings.reserve_bytes).with_location(settings.data_directory),
        );
        let journal = settings
            .change_feed
            .then(|| ChangeJournal::open(store.clone(), settings.change_debounce))
            .flatten();
        let writer_journal = journal.clone();
        let writer_store = store.clone();
        let writer_counters = counters.clone();
        let writer_health = health.clone();
        let writer_settings = WriterSettings {
            durability: settings.durability,
            flush_timeout: settings.flush_timeout,
        };
        std::thread::Builder::new()
            .name("quire-storage-writer".to_owned())
            .spawn(move || {
                run_writer(
                    writer_store,
                    writer_settings,
                    receiver,
                    writer_counters,
                    writer_health,
                    writer_journal,
                )
            })
            .expect("the OS lets us start the storage writer thread");
        start_storage_probe(Arc::downgrade(&store), Arc::downgrade(&health));
        Storage {
            store,
            requests,
            counters,
            health,
            snapshot_writes: Arc::new(Semaphore::new(MAX_CONCURRENT_SNAPSHOT_WRITES)),
            snapshot_lane: HeavyLane::start("quire-snapshot", MAX_CONCURRENT_SNAPSHOT_WRITES),
            journal,
        }
    }

    /// The change journal, when the store keeps a change log.
    pub(crate) fn journal(&self) -> Option<&Arc<ChangeJournal>> {
        self.journal.as_ref()
    }

    /// Whether storage takes writes now, and why not.
    pub(crate) fn health(&self) -> &Arc<StorageHealth> {
        &self.health
    }

    /// What the writer has done so far.
    pub fn counters(&self) -> &PersistenceCounters {
        &self.counters
    }

    /// Hands `updates` of `document` to the writer, in order with everything handed before;
    /// waits only while the writer's queue is full.
    pub async fn submit(&self, document: Arc<str>, updates: Vec<Bytes>) -> PersistTicket {
        let (done, answer) = oneshot::channel();
        if self.health.refuses_writes() {
            // Refused here, not by the writer: after a flush that never returned, the writer is
            // still inside it and would never get to this request.
            let outage = self.health.outage();
            let reason = outage.map(|outage| outage.describe()).unwrap_or_default();
            let _ = done.send(Err(StorageError::Unavailable(reason)));
            return PersistTicket(answer);
        }
        let request = CommitRequest {
            document,
            updates,
            done,
        };
        // A stopped writer drops the request, and the ticket says so.
        let _ = self.requests.send(request).await;
        PersistTicket(answer)
    }

    /// Appends `updates` to `document` and waits until they are durable. Returns the receipt of
    /// the last append (none when `updates` is empty).
    pub async fn persist(&self, document: Arc<str>, updates: Vec<Bytes>) -> PersistResult {
        self.submit(document, updates).await.outcome().await
    }

    /// The document's snapshot and log.
    pub async fn load(&self, document: Arc<str>) -> Result<LoadedDoc, StorageError> {
        self.blocking("load", move |store| store.load(&document))
            .await
    }

    /// Replaces the document's snapshot, dropping its log through `through`; durable when done.
    pub async fn compact(
        &self,
        document: Arc<str>,
        snapshot: Vec<u8>,
        through: Seq,
    ) -> Result<(), StorageError> {
        self.blocking_watched("compact", Some(snapshot.len()), move |store| {
            store.compact(&document, &snapshot, through)
        })
        .await
    }

    /// Creates an empty document of `kind`, durably; `false` if it exists already. A creation is
    /// announced (`document.created`) once durable, like a deletion.
    pub async fn create(&self, document: String, kind: DocumentKind) -> Result<bool, StorageError> {
        let journal = self.journal.clone();
        self.blocking_watched("create", Some(0), move |store| {
            let Some(journal) = journal else {
                return store.create(&document, kind);
            };
            let _order = journal.hold_announcements();
            // An existing document is refused before anything is marked: its own pending mark
            // (an open debounce window's) must not be overwritten or withdrawn.
            if store.metadata(&document)?.is_some() {
                return Ok(false);
            }
            // Marked before the write, so the create's own flush makes the mark durable: a crash
            // before the announcement still announces the creation at start.
            let mark = journal.intend_creation(&document);
            let created = store.create(&document, kind);
            match (&created, mark) {
                (Ok(true), mark) => {
                    let settle = mark.map(|mark| Settle {
                        kind: PendingKind::Change,
                        document: &document,
                        mark,
                    });
                    let empty = crate::changes::state_vector_of(None, []);
                    let body = EventBody::new(EventType::DocumentCreated, &document, Some(&empty));
                    journal.announce(body, settle);
                }
                (Ok(false), Some(mark)) => journal.withdraw(PendingKind::Change, &document, mark),
                _ => {}
            }
            created
        })
        .await
    }

    /// Removes the document; whether it existed. A deletion is announced once durable.
    pub async fn delete(&self, document: Arc<str>) -> Result<bool, StorageError> {
        let journal = self.journal.clone();
        self.blocking_watched("delete", None, move |store| {
            let Some(journal) = journal else {
                return store.delete(&document);
            };
            let _order = journal.hold_announcements();
            let mark = journal.intend(PendingKind::Change, &document);
            let settle = mark.map(|mark| Settle {
                kind: PendingKind::Change,
                document: &document,
                mark,
            });
            let existed = store.delete(&document);
            match (&existed, mark) {
                (Ok(true), _) => {
                    let body = EventBody::new(EventType::DocumentDeleted, &document, None);
                    journal.announce(body, settle);
                }
                (Ok(false), Some(mark)) => journal.withdraw(PendingKind::Change, &document, mark),
                // A failed delete keeps the mark: at start it is found with the document still
                // there, and announced as an update, which is harmless.
                _ => {}
            }
            existed
        })
        .await
    }

    /// Keeps `snapshot` as a new version of the document.
    pub async fn create_version(
        &self,
        document: Arc<str>,
        label: String,
        snapshot: Vec<u8>,
    ) -> Result<VersionMeta, StorageError> {
        let journal = self.journal.clone();
        self.blocking_watched("create_version", Some(snapshot.len()), move |store| {
            let Some(journal) = journal else {
                return store.create_version(&document, &label, &snapshot);
            };
            let _order = journal.hold_announcements();
            let mark = journal.intend(PendingKind::Version, &document);
            let created = store.create_version(&document, &label, &snapshot);
            match (&created, mark) {
                (Ok(meta), mark) => {
                    let settle = mark.map(|mark| Settle {
                        kind: PendingKind::Version,
                        document: &document,
                        mark,
                    });
                    journal.announce(version_event(&document, meta, &snapshot), settle);
                }
                (Err(_), Some(mark)) => journal.withdraw(PendingKind::Version, &document, mark),
                (Err(_), None) => {}
            }
            created
        })
        .await
    }

    /// The document's versions, oldest first.
    pub async fn list_versions(&self, document: String) -> Result<Vec<VersionMeta>, StorageError> {
        self.blocking("list_versions", move |store| store.list_versions(&document))
            .await
    }

    /// One version and its snapshot.
    pub async fn load_version(
        &self,
        document: String,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StorageError> {
        self.blocking("load_version", move |store| {
            store.load_version(&document, version)
        })
        .await
    }

    /// Up to `limit` documents after `after`, by id.
    pub async fn list_page(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<DocMeta>, StorageError> {
        self.blocking("list", move |store| {
            store.list_page(after.as_deref(), limit)
        })
        .await
    }

    /// One document's metadata, if it exists.
    pub async fn metadata(&self, document: String) -> Result<Option<DocMeta>, StorageError> {
        self.blocking("metadata", move |store| store.metadata(&document))
            .await
    }

    /// The document as stored durably (appends not yet flushed left out): what other nodes
    /// sharing the store have stored, for a room that missed their messages.
    pub async fn load_committed(&self, document: Arc<str>) -> Result<LoadedDoc, StorageError> {
        self.blocking("load", move |store| store.load_committed(&document))
            .await
    }

    /// Makes everything appended so far durable.
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.blocking("flush", |store| store.flush()).await
    }

    /// Refuses a write of a `bytes` snapshot (a compaction, a version: outside the writer's
    /// batches) while storage takes no writes, or while it would not fit beside the reserve.
    /// Not fitting is no outage: edits go on (the log just grows uncompacted) until the
    /// batches themselves reach the reserve.
    fn admit_write(&self, bytes: usize) -> Result<(), StorageError> {
        self.health
            .admit_snapshot(self.store.available_bytes(), bytes as u64)
            .map_err(StorageError::Unavailable)
    }

    /// Runs `operation`, a write of its own (compaction, version, delete) of `writes_bytes` new
    /// bytes, on the blocking pool once one of the few places for those is free and the space is
    /// there, timed as `name`; a failure of the store itself (not of one request) is reported to
    /// the health.
    async fn blocking_watched<T: Send + 'static>(
        &self,
        name: &'static str,
        writes_bytes: Option<usize>,
        operation: impl FnOnce(&dyn DocStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StorageError> {
        // Never closed, so a place always comes. It goes with the blocking work, not with this
        // future: a caller that gives up must not free a place while its write still runs.
        let place = Arc::clone(&self.snapshot_writes)
            .acquire_owned()
            .await
            .expect("the snapshot-write semaphore is never closed");
        // Checked once the write may run, so the space it saw is the space it gets.
        if let Some(bytes) = writes_bytes {
            self.admit_write(bytes)?;
        }
        // On the heavy lane, below the workers' priority: a compaction of a large document
        // encodes and copies megabytes, and on a busy core that must not come before the small
        // updates of every other room (issue #20).
        let store = self.store.clone();
        let done = self
            .snapshot_lane
            .run(move || {
                let _place = place;
                let started = std::time::Instant::now();
                let done = catch_unwind(AssertUnwindSafe(|| operation(store.as_ref())));
                telemetry::record_storage(name, started.elapsed());
                done
            })
            .await;
        let done = match done {
            Ok(done) => done.map_err(StorageError::from),
            Err(panic) => Err(StorageError::Panicked(panic_message(panic.as_ref()))),
        };
        if let Err(StorageError::Store(error)) = &done
            && is_storage_failure(error)
        {
            self.health.record_store_error(error);
        }
        done
    }

    /// Runs `operation` on the blocking pool, timed as `name`.
    async fn blocking<T: Send + 'static>(
        &self,
        name: &'static str,
        operation: impl FnOnce(&dyn DocStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let store = self.store.clone();
        let done = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let done = operation(store.as_ref());
            telemetry::record_storage(name, started.elapsed());
            done
        })
        .await?;
        Ok(done?)
    }
}

/// While storage takes no writes for a reason that can pass (low on space, an unreachable
/// database), rechecks it every [`PROBE_INTERVAL`], so edits are taken again once it has passed
/// even if no edit arrives to find out. Ends with the storage it watches.
fn start_storage_probe(store: Weak<dyn DocStore>, health: Weak<StorageHealth>) {
    let probe = move || {
        loop {
            std::thread::sleep(PROBE_INTERVAL);
            let (Some(store), Some(health)) = (store.upgrade(), health.upgrade()) else {
                return;
            };
            match health.outage() {
                Some(Outage::LowOnSpace { .. }) => {
                    if let Some(available) = store.available_bytes() {
                        health.probe(available);
                    }
                }
                Some(Outage::Unreachable { .. }) => {
                    health.probe_reachable(
                        store.check_reachable().map_err(|error| error.to_string()),
                    );
                }
                Some(Outage::Failed { .. }) | None => {}
            }
        }
    };
    std::thread::Builder::new()
        .name("quire-storage-probe".to_owned())
        .spawn(probe)
        .expect("the OS lets us start the storage probe thread");
}

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;
