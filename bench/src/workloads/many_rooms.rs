//! W3, many rooms: R small rooms busy at once, for latency and the server's CPU per update.
//!
//! Each room has one writer and `--clients-per-room - 1` readers (the hot-room traffic, small):
//! every writer sends `--rate-per-room` updates a second, starting at a random offset so the
//! rooms' updates interleave rather than arrive in bursts. Every room drains before any client
//! disconnects, so the measurement is the steady state, not the teardown of thousands of
//! sockets. The server's CPU time from the first update to the last delivery (`--server-pid`)
//! divided by that wall time is `cpu_percent`.
//!
//! With `--flood-bytes`, one more room runs beside them: a writer replacing its text with that
//! many fresh bytes `--flood-rate` times a second, and readers that take it all (see
//! `traffic::flood`). Latency and deliveries are still those of the quiet rooms only: the run
//! shows what one noisy room costs the others (issue #20).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::error::BenchError;
use crate::report::{LatencyRecorder, Measurement, per_second};
use crate::traffic::flood_thread::{FloodPlan, FloodThread};
use crate::traffic::writer::Pace;
use crate::traffic::{JOIN_CONCURRENCY, RoomResult, RoomTraffic};
use crate::workloads::{Bench, size};

/// Problems listed; the rest are counted.
const MAX_PROBLEMS: usize = 20;

/// Options of `many-rooms`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManyRoomsOptions {
    /// Rooms [default: 100; --quick: 5].
    #[arg(long)]
    pub rooms: Option<u32>,
    /// Clients per room: one writer, the rest readers (at least 2).
    #[arg(long, default_value_t = 3)]
    pub clients_per_room: u32,
    /// Updates each room's writer sends per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate_per_room: f64,
    /// Length of the run in seconds [default: 10; --quick: 1].
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Tiny run for smoke tests: smaller defaults.
    #[arg(long)]
    pub quick: bool,
    /// Bytes of each update of one extra, flooding room (0: no flooding room).
    #[arg(long, default_value_t = 0)]
    pub flood_bytes: usize,
    /// Updates the flooding room's writer sends per second.
    #[arg(long, default_value_t = 50.0)]
    pub flood_rate: f64,
    /// Readers in the flooding room.
    #[arg(long, default_value_t = 2)]
    pub flood_readers: u32,
    /// How long, after its writer stops, a room waits for its last updates to arrive; what has
    /// not arrived then counts as missed. Raise it to tell late deliveries from lost ones.
    #[arg(long, default_value_t = 5.0)]
    pub drain_seconds: f64,
}

/// Runs W3 and reports one measurement.
pub async fn run(bench: &Bench, options: &ManyRoomsOptions) -> Result<(), BenchError> {
    let room_count = size(options.rooms, options.quick, 100, 5);
    let seconds = size(options.seconds, options.quick, 10.0, 1.0);
    if room_count == 0
        || options.clients_per_room < 2
        || options.rate_per_room <= 0.0
        || seconds <= 0.0
        || (options.flood_bytes > 0
            && !(options.flood_rate > 0.0 && options.flood_rate.is_finite()))
        || !(options.drain_seconds >= 0.0 && options.drain_seconds.is_finite())
    {
        return Err(BenchError::Options(
            "--rooms, --rate-per-room, --seconds and --flood-rate must be positive, --drain-seconds \
             a finite number of seconds, zero or more, --clients-per-room at least 2"
                .to_owned(),
        ));
    }
    let readers = options.clients_per_room - 1;
    let latency = Arc::new(Mutex::new(LatencyRecorder::default()));
    let room_concurrency = (JOIN_CONCURRENCY / options.clients_per_room as usize).max(1);
    let mut joined = stream::iter(0..room_count)
        .map(|index| {
            let room = bench.room(&format!("many-{index}"));
            let latency = Arc::clone(&latency);
            async move { RoomTraffic::join(&bench.connector, &room, readers, None, &latency).await }
        })
        .buffer_unordered(room_concurrency);
    let mut rooms = Vec::with_capacity(room_count as usize);
    while let Some(room) = joined.next().await {
        rooms.push(room?);
    }
    drop(joined);
    let flooding = CancellationToken::new();
    let flood = match options.flood_bytes {
        0 => None,
        bytes => Some(
            FloodThread::join(
                Arc::clone(&bench.connector),
                bench.room("many-flood"),
                FloodPlan {
                    bytes,
                    per_second: options.flood_rate,
                    readers: options.flood_readers,
                },
                flooding.clone(),
            )
            .await?,
        ),
    };

    let sampling = bench.start_sampling()?;
    let flood = flood.map(FloodThread::start);
    let started = Instant::now();
    let duration = Duration::from_secs_f64(seconds);
    let period = Duration::from_secs_f64(1.0 / options.rate_per_room);
    let drain_limit = Duration::from_secs_f64(options.drain_seconds);
    let tasks: Vec<_> = rooms
        .into_iter()
        .map(|mut room| {
            let offset = period.mul_f64(rand::rng().random::<f64>());
            let pace = Pace::Fixed {
                per_second: options.rate_per_room,
                duration,
            };
            tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let writer = room.write(pace).await;
                room.drain(drain_limit).await;
                (room, writer)
            })
        })
        .collect();
    // Every room drains before any closes: a room that ends while others still send would
    // otherwise put its clients' teardown into their latency and the server's CPU.
    let mut drained = Vec::with_capacity(tasks.len());
    let mut problems = Vec::new();
    for (index, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(room) => drained.push((index, room)),
            Err(_) => problems.push(format!("room {index}: the room's task panicked")),
        }
    }
    let wall = started.elapsed();
    let mut measurement = Measurement::new(&bench.context, "W3", "many-rooms");
    bench.finish_sampling(sampling, &mut measurement)?;
    flooding.cancel();
    if let Some(flood) = flood {
        let outcome = flood.finish().await;
        measurement
            .param("flood_bytes", options.flood_bytes)
            .param("flood_rate", options.flood_rate)
            .metric("flood_updates_sent", outcome.sent)
            .metric(
                "flood_bytes_per_second",
                outcome.bytes as f64 / wall.as_secs_f64(),
            );
        if let Some(failure) = outcome.failure {
            problems.push(format!("flooding room: {failure}"));
        }
    }

    let mut closed = stream::iter(drained)
        .map(|(index, (room, writer))| async move { (index, room.close(writer).await) })
        .buffer_unordered(JOIN_CONCURRENCY);
    let mut total = RoomResult::default();
    while let Some((index, result)) = closed.next().await {
        total.sent += result.sent;
        total.deliveries += result.deliveries;
        problems.extend(
            result
                .problems
                .into_iter()
                .map(|problem| format!("room {index}: {problem}")),
        );
    }
    drop(closed);

    measurement
        .param("rooms", room_count)
        .param("clients_per_room", options.clients_per_room)
        .param("rate_per_room", options.rate_per_room)
        .param("seconds", seconds);
    let expected = total.sent * u64::from(readers);
    measurement
        .metric("updates_sent", total.sent)
        .metric("deliveries", total.deliveries)
        .metric("expected_deliveries", expected)
        .metric("deliveries_per_second", per_second(total.deliveries, wall))
        .metric("connections", room_count * options.clients_per_room)
        .metric("seconds", wall.as_secs_f64());
    if let Some(server) = &measurement.server {
        let cpu_percent = 100.0 * server.cpu_seconds / wall.as_secs_f64();
        measurement.metric("cpu_percent", cpu_percent);
    }
    measurement.latency_ms = latency.lock().expect("latency lock").summary();
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(format!("... and {more} more"));
    }
    for problem in problems {
        measurement.problem(problem);
    }
    if total.deliveries != expected {
        measurement.problem(format!(
            "{} of {expected} deliveries arrived",
            total.deliveries
        ));
    }
    bench.emit(&measurement)
}
