//! W4, join storm: K clients join a room holding a large document at once.
//!
//! A seeding client puts the trace's end document into a fresh room as one update and stays
//! connected (the room stays loaded, as when a popular document is open); a second client
//! syncing the full text proves the server has it. Then all K clients connect and sync at once
//! (`--concurrency` bounds the handshakes in progress), each checking the document it got. The
//! result is the time from the first connect to the last client synced, each client's own join
//! time as the latency distribution, and the bytes the joiners read off the wire. With
//! `--compression` the joiners offer permessage-deflate, as browsers do.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream;
use futures_util::{SinkExt, StreamExt};

use crate::connection::{SyncedClient, send_now};
use crate::document_check::DocumentCheck;
use crate::error::BenchError;
use crate::report::{LatencyRecorder, Measurement};
use crate::trace;
use crate::workloads::{Bench, DEFAULT_TRACE, size};

/// Patches of the trace replayed with `--quick`.
const QUICK_EDITS: usize = 3_000;

/// Problems listed; the rest are counted.
const MAX_PROBLEMS: usize = 20;

/// Options of `join-storm`.
#[derive(Debug, Clone, clap::Args)]
pub struct JoinStormOptions {
    /// Clients joining [default: 1000; --quick: 20].
    #[arg(long)]
    pub clients: Option<u32>,
    /// The editing trace whose end document the room holds.
    #[arg(long, default_value = DEFAULT_TRACE)]
    pub trace: PathBuf,
    /// Use only the first N patches of the trace.
    #[arg(long)]
    pub edits: Option<usize>,
    /// Handshakes in progress at once (default: all clients).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Tiny run for smoke tests: smaller defaults, the first 3,000 patches of the trace.
    #[arg(long)]
    pub quick: bool,
    /// Joiners offer permessage-deflate (as browsers do); a server that agrees sends the
    /// document compressed.
    #[arg(long)]
    pub compression: bool,
}

/// Runs W4 and reports one measurement.
pub async fn run(bench: &Bench, options: &JoinStormOptions) -> Result<(), BenchError> {
    let clients = size(options.clients, options.quick, 1000, 20);
    let limit = options.edits.or(options.quick.then_some(QUICK_EDITS));
    let replayed = trace::replay(&options.trace, limit)?;
    let check = Arc::new(Mutex::new(DocumentCheck::new(replayed.expected_text)));
    let room = bench.room("storm");

    let mut seeder = bench.connector.join(&room, None).await?;
    send_now(&mut seeder.sink, seeder.framing.update(&replayed.document))
        .await
        .map_err(|error| BenchError::Options(format!("seeding the room: {error}")))?;
    let seeder_stream = tokio::spawn(drain(seeder.stream));
    let witness = bench.connector.join(&room, None).await?;
    check
        .lock()
        .expect("check lock")
        .check(&witness.document)
        .map_err(|why| {
            BenchError::Options(format!("the seeded room does not hold the trace: {why}"))
        })?;
    drop(witness);

    let sampling = bench.start_sampling()?;
    let concurrency = options.concurrency.unwrap_or(clients as usize).max(1);
    let read_before = bench.connector.bytes_read();
    let started = Instant::now();
    let room = &room;
    let mut joins = stream::iter(0..clients)
        .map(|_| {
            let check = Arc::clone(&check);
            async move {
                let began = Instant::now();
                let client = bench
                    .connector
                    .join_offering(room, None, options.compression)
                    .await;
                let synced_at = Instant::now();
                let verdict = client.as_ref().map_err(ToString::to_string).and_then(
                    |client: &SyncedClient| {
                        check.lock().expect("check lock").check(&client.document)
                    },
                );
                // Keep the socket (clients stay in the room until everyone synced) but not the
                // document: 5,000 copies of it would be gigabytes of the generator's memory.
                let socket = client.ok().map(|client| (client.sink, client.stream));
                (synced_at - began, synced_at, verdict, socket)
            }
        })
        .buffer_unordered(concurrency);
    let mut latency = LatencyRecorder::default();
    let mut last_synced = started;
    let mut problems = Vec::new();
    let mut joined = Vec::with_capacity(clients as usize);
    let mut synced = 0u32;
    while let Some((taken, synced_at, verdict, client)) = joins.next().await {
        match verdict {
            Ok(()) => {
                synced += 1;
                latency.record(taken);
                last_synced = last_synced.max(synced_at);
            }
            Err(problem) => problems.push(problem),
        }
        joined.extend(client);
    }
    drop(joins);
    let all_synced = last_synced - started;
    let wire_bytes = bench.connector.bytes_read() - read_before;

    let mut measurement = Measurement::new(&bench.context, "W4", "join-storm");
    measurement
        .param("clients", clients)
        .param("trace", options.trace.display().to_string())
        .param("document_bytes", replayed.document.len() as u64)
        .param("concurrency", concurrency as u64)
        .param("compression", options.compression);
    bench.finish_sampling(sampling, &mut measurement)?;
    measurement
        .metric("seconds_until_all_synced", all_synced.as_secs_f64())
        .metric("clients", clients)
        .metric("clients_synced", synced)
        .metric(
            "wire_bytes_per_client",
            wire_bytes / u64::from(clients.max(1)),
        );
    measurement.latency_ms = latency.summary();
    if synced != clients {
        measurement.problem(format!("{synced} of {clients} clients synced"));
    }
    let more = problems.len().saturating_sub(MAX_PROBLEMS);
    for problem in problems.into_iter().take(MAX_PROBLEMS) {
        measurement.problem(problem);
    }
    if more > 0 {
        measurement.problem(format!("... and {more} more"));
    }
    if seeder_stream.is_finished() {
        measurement.problem("the seeding client was disconnected during the storm");
    }
    // Dropping the sockets closes them; a close handshake per client would only slow the exit.
    drop(joined);
    let _ = tokio::time::timeout(Duration::from_secs(1), seeder.sink.close()).await;
    seeder_stream.abort();
    bench.emit(&measurement)
}

/// Reads and discards a socket's frames (answering pings) until it ends.
async fn drain(mut stream: crate::connection::FrameStream) {
    while let Some(Ok(_)) = stream.next().await {}
}
