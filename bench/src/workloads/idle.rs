//! W7, idle connections: what each synced, silent client costs the server in memory.
//!
//! The server's RSS is read, C clients connect and sync (each in its own room or all in one),
//! then after `--settle-seconds` the RSS is read again; the difference over C is the memory per
//! connection. Each client keeps reading so pings are answered and the server sees it alive.
//! Thousands of sockets need the open-file limit raised (done at start) and, past the ephemeral
//! port range or per-address limits, `--source-addresses` (several 127.0.0.x).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use tokio_util::sync::CancellationToken;

use crate::error::BenchError;
use crate::report::{LatencyRecorder, Measurement};
use crate::traffic::writer::discard_incoming;
use crate::workloads::{Bench, size};

/// Problems listed; the rest are counted.
const MAX_PROBLEMS: usize = 20;

/// Which room each idle client joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoomChoice {
    /// A room of its own.
    Own,
    /// All clients in one room.
    Shared,
}

/// Options of `idle`.
#[derive(Debug, Clone, clap::Args)]
pub struct IdleOptions {
    /// Idle clients [default: 1000; --quick: 50].
    #[arg(long)]
    pub clients: Option<u32>,
    /// Each client in its own room, or all in one.
    #[arg(long, value_enum, default_value_t = RoomChoice::Own)]
    pub rooms: RoomChoice,
    /// Clients connecting at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds to wait before each RSS reading, so the server's memory settles [default: 2;
    /// --quick: 0.5].
    #[arg(long)]
    pub settle_seconds: Option<f64>,
    /// Tiny run for smoke tests: smaller defaults.
    #[arg(long)]
    pub quick: bool,
}

/// Runs W7 and reports one measurement.
pub async fn run(bench: &Bench, options: &IdleOptions) -> Result<(), BenchError> {
    let clients = size(options.clients, options.quick, 1000, 50);
    let settle = size(options.settle_seconds, options.quick, 2.0, 0.5);
    let settle = Duration::from_secs_f64(settle);
    tokio::time::sleep(settle).await;
    let sampling = bench.start_sampling()?;
    let before = sampling.server_rss_at_start();

    let stop = CancellationToken::new();
    let shared_room = bench.room("idle");
    let started = Instant::now();
    let mut joining = stream::iter(0..clients)
        .map(|index| {
            let room = match options.rooms {
                RoomChoice::Own => bench.room(&format!("idle-{index}")),
                RoomChoice::Shared => shared_room.clone(),
            };
            async move {
                let began = Instant::now();
                let client = bench.connector.join(&room, None).await;
                (began.elapsed(), client)
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut sinks = Vec::with_capacity(clients as usize);
    let mut readers = Vec::with_capacity(clients as usize);
    let mut join_times = LatencyRecorder::default();
    let mut problems = Vec::new();
    while let Some((taken, client)) = joining.next().await {
        match client {
            Ok(client) => {
                join_times.record(taken);
                readers.push(discard_incoming(client.stream, stop.clone()));
                sinks.push(client.sink);
            }
            Err(error) => problems.push(error.to_string()),
        }
    }
    drop(joining);
    let connect_time = started.elapsed();
    tokio::time::sleep(settle).await;

    let mut measurement = Measurement::new(&bench.context, "W7", "idle");
    measurement
        .param("clients", clients)
        .param(
            "rooms",
            match options.rooms {
                RoomChoice::Own => "own",
                RoomChoice::Shared => "shared",
            },
        )
        .param(
            "source_addresses",
            bench.connector.source_address_count() as u64,
        );
    bench.finish_sampling(sampling, &mut measurement)?;
    let connected = readers
        .iter()
        .filter(|reader| !reader.is_finished())
        .count() as u64;
    measurement
        .metric("clients", connected)
        .metric("connect_seconds", connect_time.as_secs_f64());
    if let (Some(before), Some(server)) = (before, measurement.server)
        && connected > 0
    {
        // Signed: memory the allocator returns while settling can make the growth negative.
        let growth = server.rss_bytes_end as f64 - before as f64;
        measurement
            .metric("rss_before_bytes", before)
            .metric("rss_after_bytes", server.rss_bytes_end)
            .metric("rss_per_connection_bytes", growth / connected as f64);
    }
    measurement.latency_ms = join_times.summary();
    stop.cancel();
    for reader in readers {
        if let Ok(Some(end)) = reader.await {
            problems.push(format!("an idle client ended: {end}"));
        }
    }
    let failed = problems.len();
    for problem in problems.into_iter().take(MAX_PROBLEMS) {
        measurement.problem(problem);
    }
    if failed > MAX_PROBLEMS {
        measurement.problem(format!("... {failed} problems in all"));
    }
    if connected < u64::from(clients) {
        measurement.problem(format!("{connected} of {clients} clients stayed connected"));
    }
    // Dropping the sockets closes them; a close handshake each would only slow the exit.
    drop(sinks);
    bench.emit(&measurement)
}
