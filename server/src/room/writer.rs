//! The group-commit writer: one thread that every room's updates are made durable through.
//!
//! It appends everything that arrived while it was busy, from every room, then flushes once:
//! one flush (and its `fdatasync`) covers the whole batch, so throughput grows with load instead
//! of collapsing under it. With many rooms each sending a little, requests arrive one at a time,
//! and flushing each at once costs a device write, and about six thread hand-offs, per update
//! (`../shared/profiles/w3-2000-rooms.md`). So when the last batches came from several documents,
//! the writer gathers for [`GATHER`] before flushing, asleep (a sender does not wake it), and one
//! flush takes everything that arrived meanwhile; [`BUSY_GATHER`] once batches hold many
//! documents. A single busy document (one writer, many
//! readers) is flushed at once: its own persists already queue up behind each flush, and a wait
//! would only add latency. [`CommitPacing`] makes that decision, without I/O, and is unit-tested.
//!
//! Before each batch the writer asks [`StorageHealth`] whether storage takes writes (enough free
//! space, no earlier failure), and answers the batch with [`StorageError::Unavailable`] without
//! touching the store when it does not; a failed append or flush, or a flush past its time limit
//! ([`FlushWatchdog`]), is reported to it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use storage::{AppendReceipt, DocStore, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::flusher::{FlushWatchdog, Waiting};
use super::maintenance::Maintenance;
pub(crate) use super::storage_error::PersistResult;
pub use super::storage_error::StorageError;
use super::storage_error::is_storage_failure;
use super::storage_health::StorageHealth;
use crate::changes::{ChangeJournal, Marked};
use crate::telemetry;

/// How long the writer gathers requests before a flush when several documents are being
/// written: a flush's worth of latency, to make one flush of many updates.
pub(crate) const GATHER: Duration = Duration::from_micros(500);

/// Documents in one flushed batch from which the writer counts as busy, and gathers longer.
pub(crate) const BUSY_DOCUMENTS: usize = 16;

/// How long a busy writer gathers. Under W3's 2,000 rooms (10,000 updates/s) each batch is a
/// wake-up of the writer, a `pwrite`, an `fdatasync` and an answer per room; gathering 2 ms
/// instead of 0.5 ms cut the server's CPU from 52-55% to 46-48% in alternated runs, and added
/// 1.5-2 ms to the median (p99 unchanged within noise). Below [`BUSY_DOCUMENTS`] the short
/// gather keeps a lightly loaded server's latency low.
pub(crate) const BUSY_GATHER: Duration = Duration::from_millis(2);

/// How strictly accepted updates are made durable before anyone sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Flushed to disk before any other client sees them (the default).
    Strict,
    /// Appended, then shown; flushed within sled's flush interval. Faster, but a crash can lose
    /// what clients already saw.
    Relaxed,
}

/// Counters of the writer's work, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct PersistenceCounters {
    /// Updates appended.
    pub updates: AtomicU64,
    /// Flushes made; each covers every update appended before it.
    pub flushes: AtomicU64,
}

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
        let busy = self.previous_documents >= BUSY_DOCUMENTS;
        self.previous_documents = documents;
        if busy {
            Some(BUSY_GATHER)
        } else {
            many.then_some(GATHER)
        }
    }

    /// The batch, once gathered, held `documents` distinct documents.
    pub(crate) fn record_flushed(&mut self, documents: usize) {
        self.previous_documents = documents;
    }
}

/// How the writer makes batches durable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterSettings {
    pub(crate) durability: Durability,
    /// The longest a flush may take before storage counts as failed.
    pub(crate) flush_timeout: Duration,
}

/// The writer thread: appends whatever is waiting, from every room, then flushes once.
pub(crate) fn run_writer(
    store: Arc<dyn DocStore>,
    settings: WriterSettings,
    mut receiver: mpsc::Receiver<CommitRequest>,
    counters: Arc<PersistenceCounters>,
    health: Arc<StorageHealth>,
    journal: Option<Arc<ChangeJournal>>,
) {
    let mut batch = Vec::new();
    let mut pacing = CommitPacing::default();
    let mut writer = Writer {
        watchdog: FlushWatchdog::start(settings.flush_timeout, health.clone()),
        maintenance: Maintenance::start(store.clone(), health.clone()),
        store,
        durability: settings.durability,
        counters,
        health,
        journal,
    };
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while let Ok(next) = receiver.try_recv() {
            batch.push(next);
        }
        if settings.durability == Durability::Strict {
            let documents: HashSet<&str> = batch.iter().map(|request| &*request.document).collect();
            if let Some(gather) = pacing.gather_before_flush(documents.len()) {
                // Asleep, not waiting on the queue: senders meanwhile wake nobody.
                std::thread::sleep(gather);
                while let Ok(next) = receiver.try_recv() {
                    batch.push(next);
                }
                let gathered: HashSet<&str> =
                    batch.iter().map(|request| &*request.document).collect();
                pacing.record_flushed(gathered.len());
            }
        }
        writer.commit(&mut batch);
    }
}

/// What the writer thread holds.
struct Writer {
    store: Arc<dyn DocStore>,
    watchdog: FlushWatchdog,
    /// Store upkeep, asked for after each batch and done off this thread.
    maintenance: Maintenance,
    durability: Durability,
    counters: Arc<PersistenceCounters>,
    health: Arc<StorageHealth>,
    /// Marks changed documents pending in the batch's own flush (see [`crate::changes`]).
    journal: Option<Arc<ChangeJournal>>,
}

impl Writer {
    /// Appends and flushes `batch`, then answers every request in it.
    fn commit(&mut self, batch: &mut Vec<CommitRequest>) {
        let batch_bytes: u64 = batch
            .iter()
            .flat_map(|request| &request.updates)
            .map(|update| update.len() as u64)
            .sum();
        if !self
            .health
            .admit_batch(self.store.available_bytes(), batch_bytes)
        {
            let reason = self.outage();
            for request in batch.drain(..) {
                let _ = request
                    .done
                    .send(Err(StorageError::Unavailable(reason.clone())));
            }
            return;
        }
        // Marked before the append: sled may make the appended updates durable on its own
        // (its background flush, or a flush of another thread) before this batch's flush, and a
        // crash then must still find their documents' marks. Whether an append creates its
        // document is known only after it, so creations are flagged below.
        let touched: Vec<(Arc<str>, bool)> = batch
            .iter()
            .filter(|request| !request.updates.is_empty())
            .map(|request| (Arc::clone(&request.document), false))
            .collect();
        let marked_before = self.mark_pending(&touched);
        let started = std::time::Instant::now();
        let appended = append_all(self.store.as_ref(), batch);
        telemetry::record_storage("append", started.elapsed());
        let appended_count: usize = batch.iter().map(|request| request.updates.len()).sum();
        self.counters
            .updates
            .fetch_add(appended_count as u64, Ordering::Relaxed);
        let mut waiting = Vec::with_capacity(batch.len());
        let mut changed = Vec::new();
        for (request, result) in batch.drain(..).zip(appended) {
            match result {
                Ok(receipt) => {
                    if let Some(receipt) = receipt {
                        changed.push((request.document, receipt.created));
                    }
                    waiting.push((request.done, receipt));
                }
                Err(error) => {
                    if is_storage_failure(&error) {
                        self.health.record_store_error(&error);
                    }
                    let _ = request.done.send(Err(StorageError::Store(error)));
                }
            }
        }
        // Marked again after the append: documents just created (for their flag), and those the
        // first mark passed over for an open window that has closed since; its state vector may
        // have been read before this append.
        let recheck: Vec<(Arc<str>, bool)> = changed
            .into_iter()
            .filter(|(document, created)| {
                *created
                    || !marked_before
                        .as_ref()
                        .is_some_and(|marked| marked.covers(document))
            })
            .collect();
        let marked = [marked_before, self.mark_pending(&recheck)];
        match self.durability {
            // After a failed write the store makes nothing durable (and sled's flush would never
            // return): what was appended is answered as failed at once.
            Durability::Strict if self.health.refuses_writes() => {
                // Nor may they become durable later, under seqs no room knows it holds.
                self.store.discard_unflushed();
                let reason = self.outage();
                answer(waiting, || Err(StorageError::FlushFailed(reason.clone())));
            }
            Durability::Strict => {
                self.counters.flushes.fetch_add(1, Ordering::Relaxed);
                let started = std::time::Instant::now();
                let store = &self.store;
                let flushed = self.watchdog.flush(|| store.flush(), waiting);
                telemetry::record_storage("flush", started.elapsed());
                // `None`: the flush ran past its limit, and the watchdog answered.
                match flushed {
                    Some((Ok(()), waiting)) => {
                        self.scheduled(marked);
                        answer_receipts(waiting);
                    }
                    Some((Err(error), waiting)) => {
                        // Logged by the health, once per episode.
                        self.health.record_store_error(&error);
                        let failure = error.to_string();
                        answer(waiting, || Err(StorageError::FlushFailed(failure.clone())));
                    }
                    None => {}
                }
            }
            Durability::Relaxed => {
                self.scheduled(marked);
                answer_receipts(waiting);
            }
        }
        self.maintenance.request();
    }

    /// Writes the pending marks of `changed` documents, to be flushed with their updates. A
    /// store that cannot write them cannot write at all: reported, so the batch fails.
    fn mark_pending(&self, changed: &[(Arc<str>, bool)]) -> Option<Marked> {
        let journal = self.journal.as_ref()?;
        if changed.is_empty() || self.health.refuses_writes() {
            return None;
        }
        match journal.mark(changed) {
            Ok(marked) => Some(marked),
            Err(error) if is_storage_failure(&error) => {
                self.health.record_store_error(&error);
                None
            }
            Err(error) => {
                tracing::warn!(%error, "could not mark changes pending; they go unannounced");
                None
            }
        }
    }

    /// The marked batch is durable: its documents' debounce windows open.
    fn scheduled(&self, marked: [Option<Marked>; 2]) {
        if let Some(journal) = &self.journal {
            marked
                .into_iter()
                .flatten()
                .for_each(|marked| journal.durable(marked));
        }
    }

    fn outage(&self) -> String {
        self.health
            .outage()
            .map(|outage| outage.describe())
            .unwrap_or_default()
    }
}

/// Answers each waiting request with its receipt: its updates are durable.
fn answer_receipts(waiting: Vec<Waiting>) {
    for (done, receipt) in waiting {
        let _ = done.send(Ok(receipt));
    }
}

/// Answers each waiting request with `outcome()`.
fn answer(waiting: Vec<Waiting>, outcome: impl Fn() -> PersistResult) {
    for (done, _) in waiting {
        let _ = done.send(outcome());
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
mod tests;
