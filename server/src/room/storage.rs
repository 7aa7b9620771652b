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
//! rarer and larger; they run on tokio's blocking pool, in parallel with the writer.
//!
//! With [`Durability::Relaxed`] the writer answers after appending, without waiting for the flush;
//! sled then flushes on its own timer, and a crash can lose the updates of the last moments.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use storage::{
    AppendReceipt, DocMeta, DocStore, LoadedDoc, Seq, StoreError, VersionId, VersionMeta,
};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use crate::telemetry;

/// Requests waiting for the writer before rooms feel back-pressure.
const WRITER_QUEUE_REQUESTS: usize = 4096;

/// How strictly accepted updates are made durable before anyone sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Flushed to disk before any other client sees them (the default).
    Strict,
    /// Appended, then shown; flushed within sled's flush interval. Faster, but a crash can lose
    /// what clients already saw.
    Relaxed,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store refused the operation.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The batch was appended but the flush failed, so none of it is known to be durable.
    #[error("flushing the store failed: {0}")]
    FlushFailed(String),
    /// The writer thread is gone (the server is stopping).
    #[error("the storage writer has stopped")]
    WriterStopped,
    /// The blocking task running the operation failed.
    #[error("the storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Counters of the writer's work, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct PersistenceCounters {
    /// Updates appended.
    pub updates: AtomicU64,
    /// Flushes made; each covers every update appended before it.
    pub flushes: AtomicU64,
}

type PersistResult = Result<Option<AppendReceipt>, StorageError>;

struct CommitRequest {
    document: Arc<str>,
    updates: Vec<Bytes>,
    done: oneshot::Sender<PersistResult>,
}

/// A persist handed to the writer; await it for the outcome.
pub struct PersistTicket(oneshot::Receiver<PersistResult>);

impl PersistTicket {
    /// Waits until the updates are durable (per the durability mode), or could not be made so.
    pub async fn outcome(self) -> PersistResult {
        self.0.await.map_err(|_| StorageError::WriterStopped)?
    }
}

/// The store, and the writer thread in front of it; cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn DocStore>,
    requests: mpsc::Sender<CommitRequest>,
    counters: Arc<PersistenceCounters>,
}

impl Storage {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<dyn DocStore>, durability: Durability) -> Self {
        let (requests, receiver) = mpsc::channel(WRITER_QUEUE_REQUESTS);
        let counters = Arc::new(PersistenceCounters::default());
        let writer_store = store.clone();
        let writer_counters = counters.clone();
        std::thread::Builder::new()
            .name("quire-storage-writer".to_owned())
            .spawn(move || run_writer(writer_store, durability, receiver, writer_counters))
            .expect("the OS lets us start the storage writer thread");
        Storage {
            store,
            requests,
            counters,
        }
    }

    /// What the writer has done so far.
    pub fn counters(&self) -> &PersistenceCounters {
        &self.counters
    }

    /// Hands `updates` of `document` to the writer, in order with everything handed before;
    /// waits only while the writer's queue is full.
    pub async fn submit(&self, document: Arc<str>, updates: Vec<Bytes>) -> PersistTicket {
        let (done, answer) = oneshot::channel();
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
        self.blocking("compact", move |store| {
            store.compact(&document, &snapshot, through)
        })
        .await
    }

    /// Removes the document; whether it existed.
    pub async fn delete(&self, document: Arc<str>) -> Result<bool, StorageError> {
        self.blocking("delete", move |store| store.delete(&document))
            .await
    }

    /// Keeps `snapshot` as a new version of the document.
    pub async fn create_version(
        &self,
        document: Arc<str>,
        label: String,
        snapshot: Vec<u8>,
    ) -> Result<VersionMeta, StorageError> {
        self.blocking("create_version", move |store| {
            store.create_version(&document, &label, &snapshot)
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

    /// Makes everything appended so far durable.
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.blocking("flush", |store| store.flush()).await
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

/// The writer thread: appends whatever is waiting, from every room, then flushes once.
fn run_writer(
    store: Arc<dyn DocStore>,
    durability: Durability,
    mut receiver: mpsc::Receiver<CommitRequest>,
    counters: Arc<PersistenceCounters>,
) {
    let mut batch = Vec::new();
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while let Ok(next) = receiver.try_recv() {
            batch.push(next);
        }
        let started = std::time::Instant::now();
        let appended: Vec<Result<Option<AppendReceipt>, StoreError>> = batch
            .iter()
            .map(|request| append_all(store.as_ref(), request))
            .collect();
        telemetry::record_storage("append", started.elapsed());
        let appended_count: usize = batch.iter().map(|request| request.updates.len()).sum();
        counters
            .updates
            .fetch_add(appended_count as u64, Ordering::Relaxed);
        let flushed = match durability {
            Durability::Strict => {
                counters.flushes.fetch_add(1, Ordering::Relaxed);
                let started = std::time::Instant::now();
                let flushed = store.flush();
                telemetry::record_storage("flush", started.elapsed());
                flushed
            }
            Durability::Relaxed => Ok(()),
        };
        let flush_failure = flushed.err().map(|error| {
            error!(%error, "flushing the store failed; the batch's clients will be disconnected");
            error.to_string()
        });
        for (request, result) in batch.drain(..).zip(appended) {
            let answer = match (result, &flush_failure) {
                (Ok(_), Some(failure)) => Err(StorageError::FlushFailed(failure.clone())),
                (Ok(receipt), None) => Ok(receipt),
                (Err(error), _) => Err(StorageError::Store(error)),
            };
            let _ = request.done.send(answer);
        }
    }
}

fn append_all(
    store: &dyn DocStore,
    request: &CommitRequest,
) -> Result<Option<AppendReceipt>, StoreError> {
    let mut last = None;
    for update in &request.updates {
        last = Some(store.append(&request.document, update)?);
    }
    Ok(last)
}
