//! W2, hot room: one writer, N readers, every reader must receive every update.
//!
//! Three modes. `saturate`: the writer sends as fast as the server delivers, within a window of
//! updates in flight, and the result is deliveries per second. `fixed`: the writer sends `--rate`
//! updates per second and the result is the latency distribution. `search`: fixed-rate steps,
//! doubling the rate and then bisecting, each in a fresh room with fresh clients, until p99
//! exceeds `--p99-limit-ms` or an update is lost; the result is the highest passing rate.
//! Rates are writer updates per second; deliveries per second are that times N.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::error::BenchError;
use crate::generator_usage::GeneratorUsage;
use crate::report::{LatencyRecorder, LatencySummary, Measurement, per_second};
use crate::server_sampler::ServerUsage;
use crate::traffic::RoomTraffic;
use crate::traffic::writer::Pace;
use crate::workloads::{Bench, size};

/// How long the last updates of a run may take to arrive.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Bisection steps after the doubling phase of a search.
const BISECTION_STEPS: u32 = 4;

/// Highest rate a search tries, in deliveries per second (far above any server measured).
const SEARCH_CEILING_DELIVERIES: f64 = 20_000_000.0;

/// How the writer paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// As fast as the server delivers (deliveries per second).
    Saturate,
    /// `--rate` updates per second (latency).
    Fixed,
    /// Highest rate whose p99 stays under `--p99-limit-ms`.
    Search,
}

/// Options of `hot-room`.
#[derive(Debug, Clone, clap::Args)]
pub struct HotRoomOptions {
    /// Readers in the room [default: 100; --quick: 10].
    #[arg(long)]
    pub readers: Option<u32>,
    /// How the writer paces itself.
    #[arg(long, value_enum, default_value_t = Mode::Saturate)]
    pub mode: Mode,
    /// Writer updates per second (fixed mode; the first step of a search).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Length of a run (of each step of a search), in seconds [default: 5; --quick: 1].
    #[arg(long)]
    pub seconds: Option<f64>,
    /// p99 latency a search step must stay under, in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub p99_limit_ms: f64,
    /// Updates in flight (saturate mode): the writer waits until every reader has update k
    /// before sending update k + window.
    #[arg(long, default_value_t = 128)]
    pub window: u32,
    /// Tiny run for smoke tests: smaller defaults; a search takes at most three steps.
    #[arg(long)]
    pub quick: bool,
}

/// The options once defaults are settled.
struct Settled {
    readers: u32,
    seconds: f64,
    rate: f64,
    p99_limit_ms: f64,
    window: u32,
    quick: bool,
}

/// One run in one room.
struct RoomRun {
    sent: u64,
    deliveries: u64,
    active_time: Duration,
    writer_max_lag: Duration,
    latency: Option<LatencySummary>,
    problems: Vec<String>,
    server: Option<ServerUsage>,
    generator: Option<GeneratorUsage>,
}

/// Runs W2 and reports one measurement.
pub async fn run(bench: &Bench, options: &HotRoomOptions) -> Result<(), BenchError> {
    let mode = options.mode;
    let options = &Settled {
        readers: size(options.readers, options.quick, 100, 10),
        seconds: size(options.seconds, options.quick, 5.0, 1.0),
        rate: options.rate,
        p99_limit_ms: options.p99_limit_ms,
        window: options.window,
        quick: options.quick,
    };
    if options.readers == 0 || options.seconds <= 0.0 || options.rate <= 0.0 {
        return Err(BenchError::Options(
            "--readers, --seconds and --rate must be positive".to_owned(),
        ));
    }
    let mut measurement = Measurement::new(&bench.context, "W2", "hot-room");
    measurement
        .param("readers", options.readers)
        .param(
            "mode",
            match mode {
                Mode::Saturate => "saturate",
                Mode::Fixed => "fixed",
                Mode::Search => "search",
            },
        )
        .param("seconds", options.seconds);
    let duration = Duration::from_secs_f64(options.seconds);
    match mode {
        Mode::Saturate => {
            measurement.param("window", options.window);
            let outcome = run_room(bench, options, Pace::Saturate { duration }, 0).await?;
            record(&mut measurement, &outcome, options.readers);
        }
        Mode::Fixed => {
            measurement.param("rate", options.rate);
            let pace = Pace::Fixed {
                per_second: options.rate,
                duration,
            };
            let outcome = run_room(bench, options, pace, 0).await?;
            record(&mut measurement, &outcome, options.readers);
        }
        Mode::Search => search(bench, options, &mut measurement).await?,
    }
    bench.emit(&measurement)
}

fn record(measurement: &mut Measurement, outcome: &RoomRun, readers: u32) {
    measurement
        .metric(
            "deliveries_per_second",
            per_second(outcome.deliveries, outcome.active_time),
        )
        .metric("updates_sent", outcome.sent)
        .metric("deliveries", outcome.deliveries)
        .metric("expected_deliveries", outcome.sent * u64::from(readers))
        .metric("seconds", outcome.active_time.as_secs_f64())
        .metric(
            "writer_max_lag_ms",
            outcome.writer_max_lag.as_secs_f64() * 1000.0,
        );
    measurement.latency_ms = outcome.latency;
    measurement.server = outcome.server;
    measurement.generator = outcome.generator;
    for problem in &outcome.problems {
        measurement.problem(problem.clone());
    }
}

/// Doubles the rate while steps pass, then bisects between the last pass and the first failure.
async fn search(
    bench: &Bench,
    options: &Settled,
    measurement: &mut Measurement,
) -> Result<(), BenchError> {
    measurement
        .param("p99_limit_ms", options.p99_limit_ms)
        .param("start_rate", options.rate);
    let ceiling = SEARCH_CEILING_DELIVERIES / f64::from(options.readers);
    let max_steps = if options.quick { 3 } else { u32::MAX };
    let mut steps = Vec::new();
    let mut best: Option<(f64, RoomRun)> = None;
    let mut failed_at: Option<f64> = None;
    let mut rate = options.rate;
    let mut bisections = 0;
    let duration = Duration::from_secs_f64(options.seconds);
    for step in 0..max_steps {
        let pace = Pace::Fixed {
            per_second: rate,
            duration,
        };
        let outcome = run_room(bench, options, pace, step + 1).await?;
        let p99 = outcome.latency.map(|latency| latency.p99);
        // A writer held back longer than the limit means the server pushed back: latency from
        // the actual send instants would not show that.
        let lag_ms = outcome.writer_max_lag.as_secs_f64() * 1000.0;
        let passed = outcome.problems.is_empty()
            && p99.is_some_and(|p99| p99 <= options.p99_limit_ms)
            && lag_ms <= options.p99_limit_ms;
        println!(
            "  step {}: {rate:.1} updates/s ({:.0} deliveries/s) p99={p99:?} ms lag={lag_ms:.1} ms {}",
            step + 1,
            rate * f64::from(options.readers),
            if passed { "pass" } else { "fail" }
        );
        steps.push(json!({
            "rate": rate,
            "deliveries_per_second": per_second(outcome.deliveries, outcome.active_time),
            "p99_ms": p99,
            "writer_max_lag_ms": lag_ms,
            "passed": passed,
            "problems": outcome.problems,
        }));
        if passed {
            best = Some((rate, outcome));
        } else {
            failed_at = Some(failed_at.map_or(rate, |failed: f64| failed.min(rate)));
        }
        let low = best.as_ref().map(|(rate, _)| *rate);
        rate = match (low, failed_at) {
            (Some(low), None) if low * 2.0 <= ceiling => low * 2.0,
            (Some(_), None) => break,
            (Some(low), Some(high)) if bisections < BISECTION_STEPS => {
                bisections += 1;
                (low + high) / 2.0
            }
            (None, Some(high)) if bisections < BISECTION_STEPS && high > 1.0 => {
                bisections += 1;
                high / 2.0
            }
            _ => break,
        };
    }
    measurement.steps = Some(steps);
    match best {
        Some((rate, outcome)) => {
            measurement.metric("max_rate_p99_under_limit", rate).metric(
                "max_deliveries_per_second_p99_under_limit",
                rate * f64::from(options.readers),
            );
            record(measurement, &outcome, options.readers);
        }
        None => {
            measurement.metric("max_rate_p99_under_limit", 0.0);
            measurement.problem(format!(
                "no step kept p99 under {} ms without losing updates",
                options.p99_limit_ms
            ));
        }
    }
    Ok(())
}

/// Joins a fresh room, runs the writer at `pace` and collects the result.
async fn run_room(
    bench: &Bench,
    options: &Settled,
    pace: Pace,
    step: u32,
) -> Result<RoomRun, BenchError> {
    let latency = Arc::new(Mutex::new(LatencyRecorder::default()));
    let window = matches!(pace, Pace::Saturate { .. }).then_some(options.window);
    let room = bench.room(&format!("hot-{step}"));
    let mut traffic =
        RoomTraffic::join(&bench.connector, &room, options.readers, window, &latency).await?;
    let sampling = bench.start_sampling()?;
    let writer = traffic.write(pace).await;
    let result = traffic.finish(writer, DRAIN_LIMIT).await;
    let (server, generator) = sampling.finish()?;
    let summary = latency.lock().expect("latency lock").summary();
    Ok(RoomRun {
        sent: result.sent,
        deliveries: result.deliveries,
        active_time: result.active_time,
        writer_max_lag: result.writer_max_lag,
        latency: summary,
        problems: result.problems,
        server,
        generator,
    })
}
