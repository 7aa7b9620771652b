//! The writer: pacing, durable before visible, failed and refused batches.

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

#[test]
fn a_busy_writer_gathers_longer_until_batches_shrink() {
    let mut pacing = CommitPacing::default();
    assert_eq!(pacing.gather_before_flush(3), Some(GATHER));
    pacing.record_flushed(BUSY_DOCUMENTS);
    assert_eq!(pacing.gather_before_flush(2), Some(BUSY_GATHER));
    pacing.record_flushed(BUSY_DOCUMENTS - 1);
    assert_eq!(pacing.gather_before_flush(2), Some(GATHER));
    pacing.record_flushed(1);
    assert_eq!(pacing.gather_before_flush(1), None);
}

/// A store that records the writer's calls and holds each flush until the test lets it
/// return (or fail), so what the writer does meanwhile can be observed.
type GatedStore = storage::testing::HookedStore<storage::MemoryStore, Gates>;

/// The [`GatedStore`]'s hooks: what it records, answers and waits for.
struct Gates {
    calls: std::sync::Mutex<Vec<&'static str>>,
    /// What `available_bytes` answers.
    available: std::sync::Mutex<Option<u64>>,
    /// Appends fail with an I/O error, as on a full disk.
    appends_fail: std::sync::atomic::AtomicBool,
    flush_entered: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    flush_outcome: std::sync::Mutex<std::sync::mpsc::Receiver<Result<(), StoreError>>>,
    /// When set, the next upkeep says which thread it runs on and waits to be released.
    upkeep: std::sync::Mutex<Option<UpkeepGate>>,
}

/// Where an upkeep tells its thread's name, and what releases it.
type UpkeepGate = (
    std::sync::mpsc::Sender<String>,
    std::sync::mpsc::Receiver<()>,
);

impl Gates {
    fn record(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
    }
}

impl storage::testing::StoreHooks for Gates {
    fn append(
        &self,
        inner: &dyn DocStore,
        doc: &str,
        update: &[u8],
    ) -> Result<AppendReceipt, StoreError> {
        self.record("append");
        let marked = inner
            .change_log()
            .and_then(|log| log.pending_changes().ok())
            .is_some_and(|pending| pending.iter().any(|change| change.document == doc));
        if marked {
            self.record("append of a marked document");
        }
        if self.appends_fail.load(Ordering::Relaxed) {
            return Err(StoreError::Io {
                path: "sled".into(),
                source: std::io::Error::from_raw_os_error(28),
            });
        }
        inner.append(doc, update)
    }

    fn available_bytes(&self, _inner: &dyn DocStore) -> Option<u64> {
        *self.available.lock().unwrap()
    }

    fn maintain(&self, inner: &dyn DocStore) -> Result<(), StoreError> {
        let gate = self.upkeep.lock().unwrap().take();
        match gate {
            Some((entered, release)) => {
                let thread = std::thread::current().name().unwrap_or_default().to_owned();
                entered.send(thread).unwrap();
                release.recv().unwrap();
                Ok(())
            }
            None => inner.maintain(),
        }
    }

    fn flush(&self, _inner: &dyn DocStore) -> Result<(), StoreError> {
        self.record("flush entered");
        self.flush_entered.lock().unwrap().send(()).unwrap();
        let outcome = self.flush_outcome.lock().unwrap().recv().unwrap();
        self.record("flush returned");
        outcome
    }
}

/// A strict writer over a [`GatedStore`]: the store, a way to submit, and the flush controls.
struct GatedWriter {
    store: Arc<GatedStore>,
    health: Arc<StorageHealth>,
    requests: mpsc::Sender<CommitRequest>,
    flush_entered: std::sync::mpsc::Receiver<()>,
    flush_outcome: std::sync::mpsc::Sender<Result<(), StoreError>>,
}

fn gated_writer() -> GatedWriter {
    gated_writer_with(Duration::from_secs(60), 0)
}

/// A gated writer whose flushes may take `flush_timeout`, keeping `reserve_bytes` free.
fn gated_writer_with(flush_timeout: Duration, reserve_bytes: u64) -> GatedWriter {
    gated_writer_over(flush_timeout, reserve_bytes, false)
}

/// A gated writer, with a change journal (whose marks live in the store) when `journaled`.
fn gated_writer_over(flush_timeout: Duration, reserve_bytes: u64, journaled: bool) -> GatedWriter {
    let (entered_sender, flush_entered) = std::sync::mpsc::channel();
    let (flush_outcome, outcome_receiver) = std::sync::mpsc::channel();
    let store = Arc::new(GatedStore::new(
        storage::MemoryStore::default(),
        Gates {
            calls: Default::default(),
            available: Default::default(),
            appends_fail: Default::default(),
            flush_entered: std::sync::Mutex::new(entered_sender),
            flush_outcome: std::sync::Mutex::new(outcome_receiver),
            upkeep: Default::default(),
        },
    ));
    let (requests, receiver) = mpsc::channel(8);
    let writer_store: Arc<dyn DocStore> = store.clone();
    let settings = WriterSettings {
        durability: Durability::Strict,
        flush_timeout,
    };
    let health = Arc::new(StorageHealth::new(reserve_bytes));
    let writer_health = health.clone();
    let journal = journaled
        .then(|| crate::changes::ChangeJournal::open(writer_store.clone(), Duration::from_secs(60)))
        .flatten();
    std::thread::spawn(move || {
        run_writer(
            writer_store,
            settings,
            receiver,
            Arc::default(),
            writer_health,
            journal,
        );
    });
    GatedWriter {
        store,
        health,
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
        *writer.store.hooks.calls.lock().unwrap(),
        ["append", "flush entered", "flush returned"]
    );
}

/// Store upkeep (folding the append log) is asked for after a batch and runs on a thread of
/// its own: the next batch commits while it is still running.
#[test]
fn upkeep_runs_off_the_writer_and_holds_up_no_batch() {
    let writer = gated_writer();
    let (entered, upkeep_entered) = std::sync::mpsc::channel();
    let (release_upkeep, release) = std::sync::mpsc::channel();
    *writer.store.hooks.upkeep.lock().unwrap() = Some((entered, release));
    let first = submit(&writer, b"first");
    writer.flush_entered.recv().unwrap();
    writer.flush_outcome.send(Ok(())).unwrap();
    first.blocking_recv().unwrap().unwrap();
    assert_eq!(upkeep_entered.recv().unwrap(), "quire-store-upkeep");
    let second = submit(&writer, b"second");
    writer.flush_entered.recv().unwrap();
    writer.flush_outcome.send(Ok(())).unwrap();
    let receipt = second.blocking_recv().unwrap().unwrap().unwrap();
    assert_eq!(receipt.seq, storage::Seq(2));
    release_upkeep.send(()).unwrap();
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

/// Short of space, a batch is refused without touching the store, and taken again once space is
/// back.
#[test]
fn a_batch_is_refused_untouched_while_space_is_short() {
    let writer = gated_writer_with(Duration::from_secs(60), 1000);
    *writer.store.hooks.available.lock().unwrap() = Some(999);
    let outcome = submit(&writer, b"update").blocking_recv().unwrap();
    match outcome {
        Err(StorageError::Unavailable(reason)) => {
            assert!(reason.contains("low on space"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(writer.store.hooks.calls.lock().unwrap().is_empty());
    assert!(writer.health.refuses_writes());

    *writer.store.hooks.available.lock().unwrap() = Some(1 << 20);
    let answer = submit(&writer, b"update");
    writer.flush_entered.recv().unwrap();
    writer.flush_outcome.send(Ok(())).unwrap();
    assert!(answer.blocking_recv().unwrap().is_ok());
    assert!(!writer.health.refuses_writes());
}

/// A flush that never returns fails its batch once its time is up, instead of holding every
/// room, and storage stays failed.
#[test]
fn a_flush_that_never_returns_fails_its_batch_and_storage_stays_failed() {
    let writer = gated_writer_with(Duration::from_millis(50), 0);
    let answer = submit(&writer, b"update");
    writer.flush_entered.recv().unwrap();
    // The flush is never let go: the answer comes from the time limit.
    let outcome = answer.blocking_recv().unwrap();
    assert!(
        matches!(&outcome, Err(StorageError::FlushFailed(reason)) if reason.contains("did not return")),
        "{outcome:?}"
    );
    assert!(matches!(
        writer.health.outage(),
        Some(super::super::storage_health::Outage::Failed { .. })
    ));
    assert_eq!(
        *writer.store.hooks.calls.lock().unwrap(),
        ["append", "flush entered"]
    );
}

/// Once storage has failed, a persist is refused at once, without waiting for a writer that may
/// be stuck inside a flush for good.
#[test]
fn a_persist_after_a_failure_is_refused_at_once() {
    let store: Arc<dyn DocStore> = Arc::new(storage::MemoryStore::default());
    let storage = super::super::storage::Storage::start(
        store,
        super::super::storage::StorageSettings::with_durability(Durability::Strict),
    );
    storage.health().record_failure("the disk went away".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        let updates = vec![Bytes::from_static(b"later")];
        storage
            .submit(Arc::from("doc"), updates)
            .await
            .outcome()
            .await
    });
    assert!(
        matches!(&outcome, Err(StorageError::Unavailable(reason)) if reason.contains("the disk went away")),
        "{outcome:?}"
    );
}

/// After a failed append the store is not flushed (sled's flush would never return): the batch
/// is answered as failed at once, and storage is failed.
#[test]
fn a_failed_append_is_answered_without_a_flush() {
    let writer = gated_writer();
    writer
        .store
        .hooks
        .appends_fail
        .store(true, Ordering::Relaxed);
    let outcome = submit(&writer, b"update").blocking_recv().unwrap();
    assert!(
        matches!(outcome, Err(StorageError::Store(_))),
        "{outcome:?}"
    );
    assert_eq!(*writer.store.hooks.calls.lock().unwrap(), ["append"]);
    assert!(writer.health.refuses_writes());
}

/// A document's pending change mark is in the store before its update is appended: sled may
/// make an append durable before the batch's own flush (its background flush does), and a crash
/// then must still find the mark that announces the update.
#[test]
fn a_documents_change_mark_is_stored_before_its_update_is_appended() {
    let writer = gated_writer_over(Duration::from_secs(60), 0, true);
    let answer = submit(&writer, b"first");
    writer.flush_entered.recv().unwrap();
    writer.flush_outcome.send(Ok(())).unwrap();
    assert!(answer.blocking_recv().unwrap().is_ok());
    let calls = writer.store.hooks.calls.lock().unwrap().clone();
    assert!(
        calls.contains(&"append of a marked document"),
        "the append came before the mark: {calls:?}"
    );
}
