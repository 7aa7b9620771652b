//! Durable before visible: the group-commit writer every room persists through.
//!
//! Rooms hand their accepted updates to one writer thread and wait for its answer before sending
//! those updates to anyone. The thread appends everything that arrived while it was busy, from
//! every room, then flushes once: one `fsync` covers the whole batch, so throughput grows with
//! load instead of collapsing under it. The thread is a plain OS thread, so blocking sled work
//! never runs on the async workers.
//!
//! With [`Durability::Relaxed`] the writer answers after appending, without waiting for the flush;
//! sled then flushes on its own timer, and a crash can lose the updates of the last moments.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use storage::{AppendReceipt, DocStore, StoreError};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

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

/// Why updates could not be persisted.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The store refused the append or the flush.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The batch was appended but the flush failed, so none of it is known to be durable.
    #[error("flushing the store failed: {0}")]
    FlushFailed(String),
    /// The writer thread is gone (the server is stopping).
    #[error("the storage writer has stopped")]
    WriterStopped,
}

/// Counters of the writer's work, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct PersistenceCounters {
    /// Updates appended.
    pub updates: AtomicU64,
    /// Flushes made; each covers every update appended before it.
    pub flushes: AtomicU64,
}

struct CommitRequest {
    document: Arc<str>,
    updates: Vec<Bytes>,
    done: oneshot::Sender<Result<Option<AppendReceipt>, PersistError>>,
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Persistence {
    store: Arc<dyn DocStore>,
    requests: mpsc::Sender<CommitRequest>,
    counters: Arc<PersistenceCounters>,
}

impl Persistence {
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
        Persistence {
            store,
            requests,
            counters,
        }
    }

    /// The store behind the writer, for loads and compactions.
    pub fn store(&self) -> &Arc<dyn DocStore> {
        &self.store
    }

    /// What the writer has done so far.
    pub fn counters(&self) -> &PersistenceCounters {
        &self.counters
    }

    /// Appends `updates` to `document` and waits until they are durable (per the durability
    /// mode). Returns the receipt of the last append (none when `updates` is empty).
    ///
    /// Several updates are merged into one first, on the caller's task rather than the shared
    /// writer thread: one append per batch instead of one per update (see `crdt_core::merge`).
    pub async fn persist(
        &self,
        document: Arc<str>,
        updates: Vec<Bytes>,
    ) -> Result<Option<AppendReceipt>, PersistError> {
        let updates = merge_for_storage(&document, updates);
        let (done, answer) = oneshot::channel();
        let request = CommitRequest {
            document,
            updates,
            done,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| PersistError::WriterStopped)?;
        answer.await.map_err(|_| PersistError::WriterStopped)?
    }
}

/// The batch as one merged update, or as it came if it cannot be merged (it was applied by the
/// room, so that would be a bug worth a log line, not a lost batch).
fn merge_for_storage(document: &str, updates: Vec<Bytes>) -> Vec<Bytes> {
    if updates.len() < 2 {
        return updates;
    }
    match crdt_core::merge::merge_updates(&updates) {
        Ok(merged) => vec![Bytes::from(merged)],
        Err(error) => {
            warn!(document, %error, "storing a batch unmerged: its updates could not be merged");
            updates
        }
    }
}

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
                (Ok(_), Some(failure)) => Err(PersistError::FlushFailed(failure.clone())),
                (Ok(receipt), None) => Ok(receipt),
                (Err(error), _) => Err(PersistError::Store(error)),
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
