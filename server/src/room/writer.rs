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
}
