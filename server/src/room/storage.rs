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

use bytes::Bytes;
use storage::{DocMeta, DocStore, LoadedDoc, Seq, StoreError, VersionId, VersionMeta};
use tokio::sync::{mpsc, oneshot};

use super::writer::{CommitRequest, PersistResult, run_writer};
pub use super::writer::{Durability, PersistenceCounters, StorageError};
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
