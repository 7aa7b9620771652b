//! Storage benchmarks on a real `SledStore` in a temporary directory.
//!
//! - `group_commit/{strict,relaxed}/{1,16,128}_tasks`: K tokio tasks (rooms) each persist
//!   [`UPDATES_PER_TASK`] ~30-byte updates through one `Storage` writer, one `persist` call
//!   at a time, the way a room persists per-keystroke Yjs updates. Throughput is updates/s; the
//!   writer's counters give flushes/s and updates per flush, printed after each benchmark.
//! - `cold_load/{sled,memory}/{snapshot,snapshot_and_tail}`: what a room does on its first join
//!   (`room_storage::load_room`): load the automerge-paper document from the store and apply it
//!   into a fresh `crdt_core::Room`. Stored as one compacted snapshot, or as a snapshot plus a
//!   tail of 1,000 per-edit updates (the most a room leaves before compacting). Criterion reports
//!   mean and median; p50/p99 over our own samples are printed.
//!
//! Run with `cargo bench -p server --bench persistence` (about 100 s, 16–19 s of it preparing the
//! trace). Under `cargo test --all-targets` (criterion's test mode, or any debug build) only the
//! first 2,000 edits and a few updates per task are used. Without the trace file the cold-load
//! benchmarks print why and are skipped.

#[path = "../../crdt-core/benches/trace/mod.rs"]
#[allow(dead_code)]
mod trace;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crdt_core::Room;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use server::room::{Durability, Storage, StorageSettings};
use storage::{DocStore, MemoryStore, Seq, SledStore};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Transact, Update};

const TRACE_FILE: &str = "automerge-paper.json.gz";

/// Concurrent tasks (rooms) persisting at once.
const TASK_COUNTS: [usize; 3] = [1, 16, 128];
/// Updates each task persists per iteration, one `persist` call each.
const UPDATES_PER_TASK: usize = 32;
/// Payload size of one update: about a per-keystroke Yjs update.
const UPDATE_BYTES: usize = 30;

/// Updates in the stored log after the snapshot, in the `snapshot_and_tail` case.
const TAIL_UPDATES: usize = 1_000;
/// Own samples per cold-load case, for the printed percentiles.
const LOAD_SAMPLES: usize = 200;

/// Used when only checking that the benchmark runs (test mode, debug builds).
const QUICK_EDITS: usize = 2_000;
const QUICK_UPDATES_PER_TASK: usize = 2;
const QUICK_LOAD_SAMPLES: usize = 3;

fn main() {
    let quick = quick_mode();
    let mut criterion = Criterion::default().configure_from_args();
    bench_group_commit(&mut criterion, quick);
    match trace::load(TRACE_FILE) {
        Ok(trace) => bench_cold_load(&mut criterion, &trace, quick),
        Err(error) => eprintln!("persistence: skipping the cold-load benchmarks: {error}"),
    }
    criterion.final_summary();
}

/// True under `cargo test` (criterion runs benchmarks once, without `--bench`, or with
/// `--test`), for `--list`, and in any debug build.
fn quick_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    cfg!(debug_assertions) || !has("--bench") || has("--test") || has("--list")
}

fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::Strict => "strict",
        Durability::Relaxed => "relaxed",
    }
}

/// What the writer did during the iterations of one benchmark (warm-up included).
#[derive(Default)]
struct WriterTally {
    elapsed: Duration,
    updates: u64,
    flushes: u64,
}

fn counters_now(persistence: &Storage) -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = persistence.counters();
    (
        counters.updates.load(Relaxed),
        counters.flushes.load(Relaxed),
    )
}

fn bench_group_commit(criterion: &mut Criterion, quick: bool) {
    let updates_per_task = if quick {
        QUICK_UPDATES_PER_TASK
    } else {
        UPDATES_PER_TASK
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut group = criterion.benchmark_group("group_commit");
    // A strict iteration with one task waits for 32 fsyncs in a row: flat sampling keeps the
    // run short whatever the disk.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for durability in [Durability::Strict, Durability::Relaxed] {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let store = SledStore::open(directory.path()).expect("sled opens");
        let persistence = Storage::start(
            Arc::new(store),
            StorageSettings::with_durability(durability),
        );
        for tasks in TASK_COUNTS {
            group.throughput(Throughput::Elements((tasks * updates_per_task) as u64));
            let mut tally = WriterTally::default();
            let id = BenchmarkId::new(durability_name(durability), format!("{tasks}_tasks"));
            group.bench_function(id, |bencher| {
                bencher.iter_custom(|iterations| {
                    let (updates_before, flushes_before) = counters_now(&persistence);
                    let started = Instant::now();
                    for _ in 0..iterations {
                        runtime.block_on(persist_concurrently(
                            &persistence,
                            tasks,
                            updates_per_task,
                        ));
                    }
                    let elapsed = started.elapsed();
                    let (updates_after, flushes_after) = counters_now(&persistence);
                    tally.elapsed += elapsed;
                    tally.updates += updates_after - updates_before;
                    tally.flushes += flushes_after - flushes_before;
                    elapsed
                });
            });
            report_tally(durability, tasks, &tally);
        }
        drop(persistence);
    }
    group.finish();
}

/// `tasks` tasks, each persisting `updates_per_task` updates to its own document, one call at a
/// time (a room waits for each batch before the next).
async fn persist_concurrently(persistence: &Storage, tasks: usize, updates_per_task: usize) {
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let persistence = persistence.clone();
            let document: Arc<str> = Arc::from(format!("room-{task}"));
            tokio::spawn(async move {
                for index in 0..updates_per_task {
                    let mut payload = vec![0x5a_u8; UPDATE_BYTES];
                    payload[..8].copy_from_slice(&(index as u64).to_le_bytes());
                    persistence
                        .persist(document.clone(), vec![Bytes::from(payload)])
                        .await
                        .expect("the update is persisted");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("the task finishes");
    }
}

fn report_tally(durability: Durability, tasks: usize, tally: &WriterTally) {
    let seconds = tally.elapsed.as_secs_f64().max(f64::EPSILON);
    let per_flush = if tally.flushes == 0 {
        "n/a (no flush waited for)".to_owned()
    } else {
        format!("{:.1}", tally.updates as f64 / tally.flushes as f64)
    };
    eprintln!(
        "persistence: group_commit {} {tasks} tasks: {} updates, {} flushes in {:.2} s: \
         {:.0} updates/s, {:.0} flushes/s, updates per flush {per_flush}",
        durability_name(durability),
        tally.updates,
        tally.flushes,
        seconds,
        tally.updates as f64 / seconds,
        tally.flushes as f64 / seconds,
    );
}

/// The paper as a room would find it in storage.
struct StoredForms {
    /// The whole document, compacted into one snapshot.
    full_snapshot: Vec<u8>,
    /// The document before its last `tail.len()` edits, as a snapshot...
    head_snapshot: Vec<u8>,
    /// ...and those edits as the per-edit updates a room appended.
    tail: Vec<Vec<u8>>,
    /// The document's text once everything is applied.
    final_text: String,
}

fn stored_forms(trace: &trace::Trace, quick: bool) -> StoredForms {
    let started = Instant::now();
    let edits = trace::per_edit_updates(trace, quick.then_some(QUICK_EDITS));
    let tail_length = TAIL_UPDATES.min(edits.updates.len() / 2);
    let (head, tail) = edits.updates.split_at(edits.updates.len() - tail_length);
    let head_doc = Doc::new();
    for update in head {
        apply(&head_doc, update);
    }
    let head_snapshot = encode_state(&head_doc);
    for update in tail {
        apply(&head_doc, update);
    }
    let full_snapshot = encode_state(&head_doc);
    eprintln!(
        "persistence: prepared the paper in {:.1?}: snapshot {} bytes; head snapshot {} bytes \
         + {} tail updates ({} bytes)",
        started.elapsed(),
        full_snapshot.len(),
        head_snapshot.len(),
        tail.len(),
        tail.iter().map(Vec::len).sum::<usize>()
    );
    StoredForms {
        full_snapshot,
        head_snapshot,
        tail: tail.to_vec(),
        final_text: edits.final_text,
    }
}

fn apply(doc: &Doc, update: &[u8]) {
    let update = Update::decode_v1(update).expect("a valid update");
    doc.transact_mut()
        .apply_update(update)
        .expect("the update applies");
}

fn encode_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

const SNAPSHOT_DOCUMENT: &str = "paper-snapshot";
const TAIL_DOCUMENT: &str = "paper-snapshot-and-tail";

/// Stores the paper in both forms, durably.
fn store_paper(store: &dyn DocStore, forms: &StoredForms) {
    store
        .compact(SNAPSHOT_DOCUMENT, &forms.full_snapshot, Seq::ZERO)
        .expect("the snapshot is imported");
    store
        .compact(TAIL_DOCUMENT, &forms.head_snapshot, Seq::ZERO)
        .expect("the head snapshot is imported");
    for update in &forms.tail {
        store.append(TAIL_DOCUMENT, update).expect("appended");
    }
    store.flush().expect("flushed");
}

/// A room's first join: load from the store, apply into a fresh room (as `load_room` does).
/// Returns the room so it is dropped outside the timed section.
fn load_room(store: &dyn DocStore, document: &str) -> Room {
    let loaded = store.load(document).expect("the document loads");
    let mut room = Room::new();
    if let Some(snapshot) = &loaded.snapshot {
        room.handle_stored_update(snapshot)
            .expect("the snapshot applies");
    }
    for update in &loaded.updates {
        room.handle_stored_update(&update.bytes)
            .expect("the update applies");
    }
    room
}

fn bench_cold_load(criterion: &mut Criterion, trace: &trace::Trace, quick: bool) {
    let forms = stored_forms(trace, quick);
    let directory = tempfile::tempdir().expect("a temporary directory");
    let sled: Arc<dyn DocStore> = Arc::new(SledStore::open(directory.path()).expect("sled opens"));
    let memory: Arc<dyn DocStore> = Arc::new(MemoryStore::new());
    let stores = [("sled", sled), ("memory", memory)];
    let documents = [
        ("snapshot", SNAPSHOT_DOCUMENT),
        ("snapshot_and_tail", TAIL_DOCUMENT),
    ];
    for (_, store) in &stores {
        store_paper(store.as_ref(), &forms);
        for (_, document) in documents {
            let room = load_room(store.as_ref(), document);
            let text = room
                .doc()
                .get_or_insert_text(trace::TEXT_NAME)
                .get_string(&room.doc().transact());
            assert!(text == forms.final_text, "{document} loads to the paper");
        }
    }

    let samples = if quick {
        QUICK_LOAD_SAMPLES
    } else {
        LOAD_SAMPLES
    };
    for (store_name, store) in &stores {
        for (case, document) in documents {
            report_percentiles(store_name, case, store.as_ref(), document, samples);
        }
    }

    let mut group = criterion.benchmark_group("cold_load");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (store_name, store) in &stores {
        for (case, document) in documents {
            group.bench_function(BenchmarkId::new(*store_name, case), |bencher| {
                bencher.iter_with_large_drop(|| load_room(store.as_ref(), document));
            });
        }
    }
    group.finish();
}

/// Times `samples` first joins, each split into the store's load and the room's apply, and
/// prints the percentiles.
fn report_percentiles(
    store_name: &str,
    case: &str,
    store: &dyn DocStore,
    document: &str,
    samples: usize,
) {
    let mut totals = Vec::with_capacity(samples);
    let mut loads = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let loaded = store.load(document).expect("the document loads");
        let loaded_at = started.elapsed();
        let mut room = Room::new();
        for bytes in loaded
            .snapshot
            .iter()
            .chain(loaded.updates.iter().map(|update| &update.bytes))
        {
            room.handle_stored_update(bytes)
                .expect("the record applies");
        }
        totals.push(started.elapsed());
        loads.push(loaded_at);
        drop(room);
    }
    let (total_p50, total_p99) = percentiles(&mut totals);
    let (load_p50, load_p99) = percentiles(&mut loads);
    eprintln!(
        "persistence: cold_load {store_name}/{case} over {samples} samples: load+apply p50 \
         {total_p50:.2?} p99 {total_p99:.2?} (store load alone p50 {load_p50:.2?} p99 \
         {load_p99:.2?})"
    );
}

/// p50 and p99 (nearest rank) of `samples`.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let rank = |fraction: f64| {
        let index = (fraction * samples.len() as f64).ceil() as usize;
        samples[index.clamp(1, samples.len()) - 1]
    };
    (rank(0.50), rank(0.99))
}
