//! W6, cold load: how long a first sync takes when the document must come from storage, against
//! one already in memory, and whether memory comes back once documents unload.
//!
//! D documents are seeded over the protocol (each the trace's end document as one update; the
//! seeding client asks for the document again before leaving, so it knows the server applied
//! it). Once the server has unloaded them all (Quire: `quire_rooms_loaded` at `--metrics-url`
//! reaches 0; other servers: `--settle-seconds`), the server's RSS is the baseline. Then for each
//! document a client syncs it cold and, while that client keeps it loaded, a second one syncs it
//! warm; both leave. After everything unloaded again the RSS is compared with the baseline.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::stream;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::connection::{SyncedClient, describe_end, send_now};
use crate::document_check::DocumentCheck;
use crate::error::BenchError;
use crate::metrics_probe::read_gauge;
use crate::protocol::Incoming;
use crate::report::{LatencyRecorder, Measurement};
use crate::trace;
use crate::workloads::{Bench, DEFAULT_TRACE, size};

/// Quire's gauge of documents in memory (server/src/telemetry.rs).
const ROOMS_LOADED_GAUGE: &str = "quire_rooms_loaded";

/// Patches of the trace replayed with `--quick`: a small document.
const QUICK_EDITS: usize = 2_000;

/// Documents seeded at once.
const SEED_CONCURRENCY: usize = 8;

/// How often the metrics page is read while waiting for rooms to unload.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Options of `cold-load`.
#[derive(Debug, Clone, clap::Args)]
pub struct ColdLoadOptions {
    /// Documents stored and loaded [default: 1000; --quick: 10].
    #[arg(long)]
    pub documents: Option<u32>,
    /// The editing trace whose end document each document is.
    #[arg(long, default_value = DEFAULT_TRACE)]
    pub trace: PathBuf,
    /// Use only the first N patches of the trace.
    #[arg(long)]
    pub edits: Option<usize>,
    /// Prometheus page with `quire_rooms_loaded` (e.g. http://127.0.0.1:4000/metrics).
    #[arg(long)]
    pub metrics_url: Option<String>,
    /// Without --metrics-url: seconds to wait for the server to unload documents.
    #[arg(long, default_value_t = 5.0)]
    pub settle_seconds: f64,
    /// Longest wait for documents to unload, in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub unload_timeout_seconds: f64,
    /// Documents loaded at once during the cold and warm syncs.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Tiny run for smoke tests: smaller defaults, documents of the first 2,000 patches.
    #[arg(long)]
    pub quick: bool,
}

/// Runs W6 and reports one measurement.
pub async fn run(bench: &Bench, options: &ColdLoadOptions) -> Result<(), BenchError> {
    let documents = size(options.documents, options.quick, 1000, 10);
    let limit = options.edits.or(options.quick.then_some(QUICK_EDITS));
    let replayed = trace::replay(&options.trace, limit)?;
    let check = std::sync::Mutex::new(DocumentCheck::new(replayed.expected_text));
    let rooms: Vec<String> = (0..documents)
        .map(|index| bench.room(&format!("cold-{index}")))
        .collect();

    let mut seeding = stream::iter(&rooms)
        .map(|room| seed(bench, room, &replayed.document, &check))
        .buffer_unordered(SEED_CONCURRENCY);
    while let Some(seeded) = seeding.next().await {
        seeded?;
    }
    drop(seeding);
    wait_for_unload(options).await?;
    let baseline = bench
        .sampler
        .as_ref()
        .map(|sampler| sampler.rss_bytes())
        .transpose()?;

    let sampling = bench.start_sampling()?;
    let mut cold = LatencyRecorder::default();
    let mut warm = LatencyRecorder::default();
    let mut problems = Vec::new();
    let mut loads = stream::iter(&rooms)
        .map(|room| load_cold_then_warm(bench, room, &check))
        .buffer_unordered(options.concurrency.max(1));
    while let Some(loaded) = loads.next().await {
        match loaded {
            Ok((cold_time, warm_time)) => {
                cold.record(cold_time);
                warm.record(warm_time);
            }
            Err(problem) => problems.push(problem),
        }
    }
    drop(loads);
    let mut measurement = Measurement::new(&bench.context, "W6", "cold-load");
    bench.finish_sampling(sampling, &mut measurement)?;
    wait_for_unload(options).await?;
    let after_unload = bench
        .sampler
        .as_ref()
        .map(|sampler| sampler.rss_bytes())
        .transpose()?;

    measurement
        .param("documents", documents)
        .param("trace", options.trace.display().to_string())
        .param("document_bytes", replayed.document.len() as u64)
        .param("concurrency", options.concurrency as u64);
    measurement.latency_ms = cold.summary();
    if let Some(summary) = cold.summary() {
        measurement
            .metric("cold_p50_ms", summary.p50)
            .metric("cold_p99_ms", summary.p99);
    }
    if let Some(summary) = warm.summary() {
        measurement
            .metric("warm_p50_ms", summary.p50)
            .metric("warm_p90_ms", summary.p90)
            .metric("warm_p99_ms", summary.p99)
            .metric("warm_p999_ms", summary.p999)
            .metric("warm_max_ms", summary.max);
    }
    if let (Some(baseline), Some(after_unload)) = (baseline, after_unload) {
        measurement
            .metric("rss_baseline_bytes", baseline)
            .metric("rss_after_unload_bytes", after_unload);
    }
    let failed = problems.len();
    for problem in problems.into_iter().take(20) {
        measurement.problem(problem);
    }
    if failed > 0 {
        measurement.problem(format!("{failed} of {documents} documents failed to load"));
    }
    bench.emit(&measurement)
}

/// Stores `document` in `room` and confirms the server holds it.
async fn seed(
    bench: &Bench,
    room: &str,
    document: &[u8],
    check: &std::sync::Mutex<DocumentCheck>,
) -> Result<(), BenchError> {
    let mut client = bench.connector.join(room, None).await?;
    let failed = |why: String| BenchError::Options(format!("seeding {room}: {why}"));
    send_now(&mut client.sink, client.framing.update(document))
        .await
        .map_err(|error| failed(error.to_string()))?;
    // Asking again after the update: the answer comes after the server applied it.
    send_now(
        &mut client.sink,
        client.framing.sync_step1(&Default::default()),
    )
    .await
    .map_err(|error| failed(error.to_string()))?;
    let stored = next_sync_step2(&mut client).await.map_err(failed)?;
    check
        .lock()
        .expect("check lock")
        .check(&stored)
        .map_err(failed)?;
    let _ = tokio::time::timeout(Duration::from_secs(1), client.sink.close()).await;
    Ok(())
}

/// The payload of the next SyncStep2 the client receives.
async fn next_sync_step2(client: &mut SyncedClient) -> Result<bytes::Bytes, String> {
    loop {
        let message = client.stream.next().await;
        match message {
            Some(Ok(Message::Binary(frame))) => {
                if let Ok(Incoming::SyncStep2(update)) = client.framing.read(&frame) {
                    return Ok(frame.slice_ref(update));
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                return Err(describe_end(message));
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Syncs `room` cold, then warm while the cold client stays; returns both times.
async fn load_cold_then_warm(
    bench: &Bench,
    room: &str,
    check: &std::sync::Mutex<DocumentCheck>,
) -> Result<(Duration, Duration), String> {
    let join_checked = || async {
        let began = Instant::now();
        let client = bench
            .connector
            .join(room, None)
            .await
            .map_err(|error| error.to_string())?;
        let taken = began.elapsed();
        check
            .lock()
            .expect("check lock")
            .check(&client.document)
            .map_err(|why| format!("{room}: {why}"))?;
        Ok::<_, String>((client, taken))
    };
    let (mut cold_client, cold) = join_checked().await?;
    let (mut warm_client, warm) = join_checked().await?;
    let _ = tokio::time::timeout(Duration::from_secs(1), warm_client.sink.close()).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), cold_client.sink.close()).await;
    Ok((cold, warm))
}

/// Waits until the server reports no rooms loaded, or `--settle-seconds` without a metrics URL.
async fn wait_for_unload(options: &ColdLoadOptions) -> Result<(), BenchError> {
    let Some(url) = &options.metrics_url else {
        tokio::time::sleep(Duration::from_secs_f64(options.settle_seconds)).await;
        return Ok(());
    };
    let deadline = Instant::now() + Duration::from_secs_f64(options.unload_timeout_seconds);
    loop {
        let loaded = read_gauge(url, ROOMS_LOADED_GAUGE).await?;
        if loaded == 0.0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout(format!(
                "{loaded} rooms still loaded after {} s",
                options.unload_timeout_seconds
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
