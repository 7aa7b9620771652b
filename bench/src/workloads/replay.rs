//! W1, trace replay: how fast a server relays a real editing session from one writer to one
//! reader.
//!
//! The writer sends the trace's per-edit updates (recorded before the run, so it only sends
//! bytes), pipelined: at most `--pipeline` updates beyond what the reader has received. The
//! reader keeps a real yrs document and applies every update; the run counts only if its text
//! ends equal to the trace's `endContent` (or, for a prefix, the text a plain replay gives).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Transact, Update};

use crate::connection::{SyncedClient, describe_end, feed, flush};
use crate::error::BenchError;
use crate::protocol::Incoming;
use crate::report::{LatencyRecorder, Measurement, per_second};
use crate::trace::{self, TEXT_NAME};
use crate::traffic::ledger::{Ledger, SharedLedger};
use crate::traffic::writer::discard_incoming;
use crate::workloads::{Bench, DEFAULT_TRACE};

/// Patches replayed with `--quick`.
const QUICK_EDITS: usize = 3_000;

/// How long the run may go without the reader receiving anything.
const STALL_LIMIT: Duration = Duration::from_secs(15);

/// Options of `replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayOptions {
    /// The editing trace (gzipped JSON).
    #[arg(long, default_value = DEFAULT_TRACE)]
    pub trace: PathBuf,
    /// Updates the writer may have sent beyond what the reader received.
    #[arg(long, default_value_t = 256)]
    pub pipeline: u32,
    /// Replay only the first N patches.
    #[arg(long)]
    pub edits: Option<usize>,
    /// Tiny run for smoke tests: the first 3,000 patches.
    #[arg(long)]
    pub quick: bool,
}

/// Runs W1 and reports one measurement.
pub async fn run(bench: &Bench, options: &ReplayOptions) -> Result<(), BenchError> {
    let limit = options.edits.or(options.quick.then_some(QUICK_EDITS));
    let replayed = trace::replay(&options.trace, limit)?;
    let total = replayed.updates.len() as u64;
    let frames_bytes: usize = replayed.updates.iter().map(Vec::len).sum();

    let room = bench.room("replay");
    let doc = Doc::new();
    let reader = bench.connector.join(&room, Some(&doc)).await?;
    let writer = bench.connector.join(&room, None).await?;
    // The reader task keeps the text; the writer client id is irrelevant here, sequence numbers
    // are counted in arrival order (each update is relayed as one message).
    let ledger = Ledger::new(0, 1, Some(options.pipeline.max(1))).shared();
    let stop = CancellationToken::new();
    let writer_incoming = discard_incoming(writer.stream, stop.clone());
    let sampling = bench.start_sampling()?;

    let reading = tokio::spawn(read_and_apply(reader, doc, Arc::clone(&ledger), total));
    let mut sink = writer.sink;
    let framing = writer.framing;
    let progress = ledger.lock().expect("ledger lock").progress();
    let mut problems = Vec::new();
    let mut next = 0usize;
    'sending: while next < replayed.updates.len() {
        let room_left = ledger.lock().expect("ledger lock").window_room();
        if room_left == 0 {
            if tokio::time::timeout(STALL_LIMIT, progress.notified())
                .await
                .is_err()
            {
                problems.push(format!("the reader stalled after {next} updates"));
                break;
            }
            continue;
        }
        for _ in 0..room_left.min(256) {
            let Some(update) = replayed.updates.get(next) else {
                break;
            };
            ledger
                .lock()
                .expect("ledger lock")
                .record_sent(update.len(), Instant::now());
            if let Err(error) = feed(&mut sink, framing.update(update)).await {
                problems.push(format!("writer socket: {error}"));
                break 'sending;
            }
            next += 1;
        }
        if let Err(error) = flush(&mut sink).await {
            problems.push(format!("writer socket: {error}"));
            break;
        }
    }
    let outcome = match tokio::time::timeout(STALL_LIMIT, reading).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) | Err(_) => ReaderEnd {
            text: String::new(),
            received: ledger.lock().expect("ledger lock").deliveries(),
            ended_early: Some("the reader did not finish".to_owned()),
            latency: LatencyRecorder::default(),
        },
    };
    let writer_ended = writer_incoming.is_finished();
    stop.cancel();
    if writer_ended && let Ok(Some(end)) = writer_incoming.await {
        problems.push(format!("writer connection {end}"));
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;

    let mut measurement = Measurement::new(&bench.context, "W1", "replay");
    measurement
        .param("trace", options.trace.display().to_string())
        .param("pipeline", options.pipeline)
        .param("edits", total);
    bench.finish_sampling(sampling, &mut measurement)?;
    let elapsed = ledger.lock().expect("ledger lock").active_time();
    measurement
        .metric("updates_per_second", per_second(outcome.received, elapsed))
        .metric("updates", outcome.received)
        .metric("seconds", elapsed.as_secs_f64())
        .metric("update_bytes", frames_bytes as u64);
    measurement.latency_ms = outcome.latency.summary();
    for problem in problems {
        measurement.problem(problem);
    }
    if let Some(end) = outcome.ended_early {
        measurement.problem(format!("reader {end}"));
    }
    if outcome.received != total {
        measurement.problem(format!(
            "the reader received {} of {total} updates",
            outcome.received
        ));
    }
    if outcome.text != replayed.expected_text {
        measurement.problem(format!(
            "the reader's text ({} bytes) differs from the expected text ({} bytes)",
            outcome.text.len(),
            replayed.expected_text.len()
        ));
    }
    bench.emit(&measurement)
}

/// What the reader ended with.
struct ReaderEnd {
    text: String,
    received: u64,
    ended_early: Option<String>,
    latency: LatencyRecorder,
}

/// Applies every update the reader receives to its document until `total` arrived.
async fn read_and_apply(
    client: SyncedClient,
    doc: Doc,
    ledger: SharedLedger,
    total: u64,
) -> ReaderEnd {
    let SyncedClient {
        framing,
        mut stream,
        document,
        early_updates,
        ..
    } = client;
    let text = doc.get_or_insert_text(TEXT_NAME);
    let mut latency = LatencyRecorder::default();
    let mut ended_early = None;
    let mut received = 0u64;
    let apply = |update: &[u8]| -> Result<(), String> {
        let update = Update::decode_v1(update).map_err(|error| error.to_string())?;
        doc.transact_mut()
            .apply_update(update)
            .map_err(|error| error.to_string())
    };
    for update in std::iter::once(&document).chain(&early_updates) {
        if let Err(error) = apply(update) {
            ended_early = Some(format!("could not apply the initial document: {error}"));
        }
    }
    while received < total && ended_early.is_none() {
        let message = stream.next().await;
        let frame = match message {
            Some(Ok(Message::Binary(frame))) => frame,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                ended_early = Some(describe_end(message));
                break;
            }
            Some(Ok(_)) => continue,
        };
        let Ok(Incoming::Update(update)) = framing.read(&frame) else {
            continue;
        };
        let at = Instant::now();
        if let Err(error) = apply(update) {
            ended_early = Some(format!("could not apply update {received}: {error}"));
        }
        if let crate::traffic::ledger::Delivery::Delivered(taken) = ledger
            .lock()
            .expect("ledger lock")
            .record_delivery(received, at)
        {
            latency.record(taken);
        }
        received += 1;
    }
    let text = text.get_string(&doc.transact());
    ReaderEnd {
        text,
        received,
        ended_early,
        latency,
    }
}
