//! Room state machine vs raw yrs, on the automerge-paper editing trace.
//!
//! The trace's 259,778 patches are turned into per-edit Yjs v1 updates once, before any timing
//! (see `trace/mod.rs`). Then:
//! - `trace_replay/raw_yrs_apply_update`: decode and apply every update into a fresh `Doc`, one
//!   transaction each: the floor any yrs-based server pays.
//! - `trace_replay/room_handle_frame`: feed every update, pre-wrapped in a y-protocols sync Update
//!   frame, to a fresh `Room` with two read-write connections through `handle_frame`, draining
//!   `poll_outgoing` after each (the Persist + Broadcast effects the server's fan-out starts from).
//! - `room_sync_step1_late_joiner`: answer a SyncStep1 with an empty state vector on a room
//!   holding the whole document (the full-state encoding a joining client costs).
//!
//! Run with `cargo bench -p crdt-core --bench room_replay`. Under `cargo test --all-targets`
//! (criterion's test mode, or any debug build) only the first 2,000 edits are used, so the trace
//! preparation stays cheap. Without the trace file the benchmark prints why and skips.

mod trace;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use crdt_core::wire::{encode_frame, encode_update_frame};
use crdt_core::{Access, ConnectionId, Outgoing, Room};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, StateVector, Transact, Update};

use trace::EditUpdates;

const TRACE_FILE: &str = "automerge-paper.json.gz";

/// Edits used when only checking that the benchmark runs (test mode, debug builds).
const QUICK_EDITS: usize = 2_000;

fn main() {
    let quick = quick_mode();
    let trace = match trace::load(TRACE_FILE) {
        Ok(trace) => trace,
        Err(error) => {
            eprintln!("room_replay: skipping: {error}");
            return;
        }
    };
    let started = std::time::Instant::now();
    let edits = trace::per_edit_updates(&trace, quick.then_some(QUICK_EDITS));
    drop(trace);
    eprintln!(
        "room_replay: prepared {} per-edit updates ({} bytes) in {:.1?}",
        edits.updates.len(),
        edits.total_bytes(),
        started.elapsed()
    );
    let frames: Vec<Bytes> = edits
        .updates
        .iter()
        .map(|update| encode_update_frame(update))
        .collect();
    check_replays(&edits, &frames);

    let mut criterion = Criterion::default().configure_from_args();
    bench_trace_replay(&mut criterion, &edits, &frames);
    bench_late_joiner(&mut criterion, &edits, &frames);
    criterion.final_summary();
}

/// True under `cargo test` (criterion runs benchmarks once, without `--bench`, or with
/// `--test`), for `--list`, and in any debug build.
fn quick_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    cfg!(debug_assertions) || !has("--bench") || has("--test") || has("--list")
}

fn bench_trace_replay(criterion: &mut Criterion, edits: &EditUpdates, frames: &[Bytes]) {
    let mut group = criterion.benchmark_group("trace_replay");
    // One iteration is a whole replay (about a second): flat sampling keeps it to ten of them.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(edits.updates.len() as u64));

    group.bench_function("raw_yrs_apply_update", |bencher| {
        bencher.iter_batched(
            fresh_doc,
            |doc| replay_raw(doc, &edits.updates),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("room_handle_frame", |bencher| {
        bencher.iter_batched(
            fresh_room,
            |(room, writer)| replay_room(room, writer, frames),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn bench_late_joiner(criterion: &mut Criterion, edits: &EditUpdates, frames: &[Bytes]) {
    let (room, writer) = fresh_room();
    let mut room = replay_room(room, writer, frames);
    let joiner = room.handle_connect(Access::ReadWrite);
    drain(&mut room);
    let step1 = encode_frame(&Message::Sync(SyncMessage::SyncStep1(
        StateVector::default(),
    )));
    check_late_joiner(&mut room, joiner, &step1, &edits.final_text);

    let state_bytes = room.encode_state_as_update().len();
    eprintln!("room_replay: full document state is {state_bytes} bytes");

    let mut group = criterion.benchmark_group("room_sync_step1_late_joiner");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(state_bytes as u64));
    group.bench_function("full_state", |bencher| {
        bencher.iter(|| {
            room.handle_frame(joiner, black_box(&step1))
                .expect("SyncStep1 accepted");
            drain(&mut room);
        });
    });
    group.finish();
}

fn fresh_doc() -> Doc {
    let doc = Doc::new();
    doc.get_or_insert_text(trace::TEXT_NAME);
    doc
}

/// A room with two read-write connections: the first writes, the second receives broadcasts.
fn fresh_room() -> (Room, ConnectionId) {
    let mut room = Room::new();
    let writer = room.handle_connect(Access::ReadWrite);
    room.handle_connect(Access::ReadWrite);
    drain(&mut room);
    (room, writer)
}

/// Returns the document so it is dropped outside the timed section.
fn replay_raw(doc: Doc, updates: &[Vec<u8>]) -> Doc {
    for update in updates {
        let update = Update::decode_v1(update).expect("valid update");
        doc.transact_mut()
            .apply_update(update)
            .expect("update applies");
    }
    doc
}

/// Returns the room so it is dropped outside the timed section.
fn replay_room(mut room: Room, writer: ConnectionId, frames: &[Bytes]) -> Room {
    for frame in frames {
        room.handle_frame(writer, frame).expect("frame accepted");
        drain(&mut room);
    }
    room
}

fn drain(room: &mut Room) {
    while let Some(outgoing) = room.poll_outgoing() {
        black_box(outgoing);
    }
}

fn text_of(doc: &Doc) -> String {
    doc.get_or_insert_text(trace::TEXT_NAME)
        .get_string(&doc.transact())
}

/// One-off, untimed: both replays reach the trace's final text, and the room emits exactly one
/// Persist and one Broadcast (to everyone but the writer) per edit.
fn check_replays(edits: &EditUpdates, frames: &[Bytes]) {
    let doc = replay_raw(fresh_doc(), &edits.updates);
    assert_eq!(text_of(&doc), edits.final_text, "raw yrs replay diverged");

    let (mut room, writer) = fresh_room();
    let (mut persisted, mut broadcast) = (0, 0);
    for frame in frames {
        room.handle_frame(writer, frame).expect("frame accepted");
        while let Some(outgoing) = room.poll_outgoing() {
            match outgoing {
                Outgoing::Persist { .. } => persisted += 1,
                // This room shares its document with no peer server.
                Outgoing::ToPeers { .. } => {}
                Outgoing::Broadcast { except, .. } => {
                    assert_eq!(except, Some(writer), "broadcast must skip the writer");
                    broadcast += 1;
                }
                Outgoing::Reply { .. } => panic!("an update needs no reply"),
            }
        }
    }
    assert_eq!(
        text_of(room.doc()),
        edits.final_text,
        "room replay diverged"
    );
    assert_eq!((persisted, broadcast), (frames.len(), frames.len()));
    let target = if edits.complete {
        "endContent"
    } else {
        "the prefix"
    };
    eprintln!(
        "room_replay: raw and room replays of {} updates both equal {target}",
        frames.len()
    );
}

/// One-off, untimed: the late joiner's SyncStep2 rebuilds the whole document.
fn check_late_joiner(room: &mut Room, joiner: ConnectionId, step1: &Bytes, expected: &str) {
    room.handle_frame(joiner, step1)
        .expect("SyncStep1 accepted");
    let Some(Outgoing::Reply { to, frame }) = room.poll_outgoing() else {
        panic!("SyncStep1 must be answered first with a reply");
    };
    assert_eq!(to, joiner);
    drain(room);
    let messages = crdt_core::wire::decode_frame(&frame).expect("valid reply");
    let [Message::Sync(SyncMessage::SyncStep2(state))] = messages.as_slice() else {
        panic!("the reply to SyncStep1 must be one SyncStep2");
    };
    let doc = fresh_doc();
    doc.transact_mut()
        .apply_update(Update::decode_v1(state).expect("valid state"))
        .expect("state applies");
    assert_eq!(text_of(&doc), expected, "late joiner's state diverged");
}
