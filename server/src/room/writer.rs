//! The group-commit writer: one thread that every room's updates are made durable through.
//!
//! It appends everything that arrived while it was busy, from every room, then flushes once:
//! one flush (and its `fdatasync`) covers the whole batch, so throughput grows with load instead
//! of collapsing under it. With many rooms each sending a little, requests arrive one at a time,
//! and flushing each at once costs a device write, and about six thread hand-offs, per update
//! (`../shared/profiles/w3-2000-rooms.md`). So when the last batches came from several documents,
//! the writer gathers for [`GATHER`] before flushing, asleep (a sender does not wake it), and one
//! flush takes everything that arrived meanwhile. A single busy document (one writer, many
//! readers) is flushed at once: its own persists already queue up behind each flush, and a wait
//! would only add latency. [`CommitPacing`] makes that decision, without I/O, and is unit-tested.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use storage::{AppendReceipt, DocStore, StoreError};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use crate::telemetry;

/// How long the writer gathers requests before a flush when several documents are being
/// written: a flush's worth of latency, to make one flush of many updates.
pub(crate) const GATHER: Duration = Duration::from_micros(500);

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

/// What a persist comes to: the receipt of its last append, once durable.
pub(crate) type PersistResult = Result<Option<AppendReceipt>, StorageError>;

/// One room's updates, waiting for the writer.
pub(crate) struct CommitRequest {
    pub(crate) document: Arc<str>,
    pub(crate) updates: Vec<Bytes>,
    pub(crate) done: oneshot::Sender<PersistResult>,
}

/// Whether to flush a batch at once or gather a little longer first.
#[derive(Debug, Default)]
pub(crate) struct CommitPacing {
    /// Distinct documents in the previous batch.
    previous_documents: usize,
}

impl CommitPacing {
    /// A batch of `documents` distinct documents is ready: how long to gather before flushing
    /// it. Several documents now or in the previous batch mean many rooms are writing, and
    /// more requests are on their way; one document alone is flushed at once.
    pub(crate) fn gather_before_flush(&mut self, documents: usize) -> Option<Duration> {
        let many = documents > 1 || self.previous_documents > 1;
        self.previous_documents = documents;
        many.then_some(GATHER)
    }
}

/// The writer thread: appends whatever is waiting, from every room, then flushes once.
pub(crate) fn run_writer(
    store: Arc<dyn DocStore>,
    durability: Durability,
    mut receiver: mpsc::Receiver<CommitRequest>,
    counters: Arc<PersistenceCounters>,
) {
    let mut batch = Vec::new();
    let mut pacing = CommitPacing::default();
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while let Ok(next) = receiver.try_recv() {
            batch.push(next);
        }
        if durability == Durability::Strict {
            let documents: HashSet<&str> = batch.iter().map(|request| &*request.document).collect();
            if let Some(gather) = pacing.gather_before_flush(documents.len()) {
                // Asleep, not waiting on the queue: senders meanwhile wake nobody.
                std::thread::sleep(gather);
                while let Ok(next) = receiver.try_recv() {
                    batch.push(next);
                }
            }
        }
        commit(store.as_ref(), durability, &counters, &mut batch);
    }
}

/// Appends and flushes `batch`, then answers every request in it.
fn commit(
    store: &dyn DocStore,
    durability: Durability,
    counters: &PersistenceCounters,
    batch: &mut Vec<CommitRequest>,
) {
    let started = std::time::Instant::now();
    let appended = append_all(store, batch);
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

/// Appends every request's updates in one call to the store (one write for sled, where
/// appending each on its own cost a device write per update); per request, the receipt of its
/// last update, or the first error among them.
fn append_all(
    store: &dyn DocStore,
    batch: &[CommitRequest],
) -> Vec<Result<Option<AppendReceipt>, StoreError>> {
    let appends: Vec<(&str, &[u8])> = batch
        .iter()
        .flat_map(|request| {
            let document: &str = &request.document;
            request
                .updates
                .iter()
                .map(move |update| (document, &update[..]))
        })
        .collect();
    let mut results = store.append_many(&appends).into_iter();
    batch
        .iter()
        .map(|request| {
            let mut outcome = Ok(None);
            for result in results.by_ref().take(request.updates.len()) {
                outcome = match (outcome, result) {
                    (Err(error), _) => Err(error),
                    (Ok(_), Ok(receipt)) => Ok(Some(receipt)),
                    (Ok(_), Err(error)) => Err(error),
                };
            }
            outcome
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_is_flushed_at_once() {
        let mut pacing = CommitPacing::default();
        assert_eq!(pacing.gather_before_flush(1), None);
        assert_eq!(pacing.gather_before_flush(1), None);
    }

    #[test]
    fn several_documents_gather_and_the_next_batch_too() {
        let mut pacing = CommitPacing::default();
        assert_eq!(pacing.gather_before_flush(3), Some(GATHER));
        // Many rooms were writing a moment ago: a batch that happens to hold one still waits.
        assert_eq!(pacing.gather_before_flush(1), Some(GATHER));
        assert_eq!(pacing.gather_before_flush(1), None);
    }

    /// A store that records the writer's calls and holds each flush until the test lets it
    /// return (or fail), so what the writer does meanwhile can be observed.
    struct GatedStore {
        inner: storage::MemoryStore,
        calls: std::sync::Mutex<Vec<&'static str>>,
        flush_entered: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
        flush_outcome: std::sync::Mutex<std::sync::mpsc::Receiver<Result<(), StoreError>>>,
    }

    impl GatedStore {
        fn record(&self, call: &'static str) {
            self.calls.lock().unwrap().push(call);
        }
    }

    impl DocStore for GatedStore {
        fn load(&self, doc: &str) -> Result<storage::LoadedDoc, StoreError> {
            self.inner.load(doc)
        }
        fn append(&self, doc: &str, update: &[u8]) -> Result<AppendReceipt, StoreError> {
            self.record("append");
            self.inner.append(doc, update)
        }
        fn flush(&self) -> Result<(), StoreError> {
            self.record("flush entered");
            self.flush_entered.lock().unwrap().send(()).unwrap();
            let outcome = self.flush_outcome.lock().unwrap().recv().unwrap();
            self.record("flush returned");
            outcome
        }
        fn compact(
            &self,
            doc: &str,
            snapshot: &[u8],
            through: storage::Seq,
        ) -> Result<(), StoreError> {
            self.inner.compact(doc, snapshot, through)
        }
        fn list(&self) -> Result<Vec<storage::DocMeta>, StoreError> {
            self.inner.list()
        }
        fn list_page(
            &self,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<storage::DocMeta>, StoreError> {
            self.inner.list_page(after, limit)
        }
        fn metadata(&self, doc: &str) -> Result<Option<storage::DocMeta>, StoreError> {
            self.inner.metadata(doc)
        }
        fn delete(&self, doc: &str) -> Result<bool, StoreError> {
            self.inner.delete(doc)
        }
        fn create_version(
            &self,
            doc: &str,
            label: &str,
            snapshot: &[u8],
        ) -> Result<storage::VersionMeta, StoreError> {
            self.inner.create_version(doc, label, snapshot)
        }
        fn list_versions(&self, doc: &str) -> Result<Vec<storage::VersionMeta>, StoreError> {
            self.inner.list_versions(doc)
        }
        fn load_version(
            &self,
            doc: &str,
            version: storage::VersionId,
        ) -> Result<Option<(storage::VersionMeta, Vec<u8>)>, StoreError> {
            self.inner.load_version(doc, version)
        }
    }

    /// A strict writer over a [`GatedStore`]: the store, a way to submit, and the flush controls.
    struct GatedWriter {
        store: Arc<GatedStore>,
        requests: mpsc::Sender<CommitRequest>,
        flush_entered: std::sync::mpsc::Receiver<()>,
        flush_outcome: std::sync::mpsc::Sender<Result<(), StoreError>>,
    }

    fn gated_writer() -> GatedWriter {
        let (entered_sender, flush_entered) = std::sync::mpsc::channel();
        let (flush_outcome, outcome_receiver) = std::sync::mpsc::channel();
        let store = Arc::new(GatedStore {
            inner: storage::MemoryStore::default(),
            calls: Default::default(),
            flush_entered: std::sync::Mutex::new(entered_sender),
            flush_outcome: std::sync::Mutex::new(outcome_receiver),
        });
        let (requests, receiver) = mpsc::channel(8);
        let writer_store: Arc<dyn DocStore> = store.clone();
        std::thread::spawn(move || {
            run_writer(writer_store, Durability::Strict, receiver, Arc::default());
        });
        GatedWriter {
            store,
            requests,
            flush_entered,
            flush_outcome,
        }
    }

    fn submit(writer: &GatedWriter, update: &'static [u8]) -> oneshot::Receiver<PersistResult> {
        let (done, answer) = oneshot::channel();
        let request = CommitRequest {
            document: Arc::from("doc"),
            updates: vec![Bytes::from_static(update)],
            done,
        };
        writer.requests.blocking_send(request).unwrap();
        answer
    }

    /// Durable before visible, at the writer: a request is answered (and the room may then
    /// deliver) only after the flush covering it has returned.
    #[test]
    fn a_request_is_answered_only_after_its_flush_returned() {
        let writer = gated_writer();
        let mut answer = submit(&writer, b"update");
        writer.flush_entered.recv().unwrap();
        assert!(
            matches!(answer.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
            "answered while the flush had not returned"
        );
        writer.flush_outcome.send(Ok(())).unwrap();
        let receipt = answer.blocking_recv().unwrap().unwrap().unwrap();
        assert_eq!(receipt.seq, storage::Seq(1));
        assert_eq!(
            *writer.store.calls.lock().unwrap(),
            ["append", "flush entered", "flush returned"]
        );
    }

    /// A flush that fails is every covered request's failure, even though its append worked:
    /// nothing it covered is known to be durable.
    #[test]
    fn a_failed_flush_fails_the_requests_it_covered() {
        let writer = gated_writer();
        let answer = submit(&writer, b"update");
        writer.flush_entered.recv().unwrap();
        writer
            .flush_outcome
            .send(Err(StoreError::UnknownDocument { doc: "doc".into() }))
            .unwrap();
        let outcome = answer.blocking_recv().unwrap();
        assert!(
            matches!(outcome, Err(StorageError::FlushFailed(_))),
            "{outcome:?}"
        );
    }
}
