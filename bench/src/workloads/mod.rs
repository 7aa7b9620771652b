//! The workloads (W1–W7 of issue #7), one module each, and what they share: the connector, the
//! report context, the optional server sampler.

pub mod awareness;
pub mod cold_load;
pub mod hot_room;
pub mod idle;
pub mod join_storm;
pub mod many_rooms;
pub mod replay;

use std::path::PathBuf;
use std::sync::Arc;

use crate::connection::Connector;
use crate::error::BenchError;
use crate::generator_usage::{GeneratorUsage, SchedulerTimes};
use crate::report::{Measurement, RunContext};
use crate::server_sampler::{Sampling, ServerSampler, ServerUsage};

/// The trace workloads replay unless told otherwise (relative to the repository root).
pub const DEFAULT_TRACE: &str = "../shared/data/traces/automerge-paper.json.gz";

/// A size option: what was given, else the `--quick` or the normal default. Explicit values
/// win over `--quick`, which only shrinks the defaults.
pub fn size<T>(given: Option<T>, quick: bool, normal: T, small: T) -> T {
    given.unwrap_or(if quick { small } else { normal })
}

/// A measurement window being sampled.
pub struct Window {
    server: Option<Sampling>,
    generator: Option<SchedulerTimes>,
}

impl Window {
    /// The server's RSS when the window started, if it is sampled.
    pub fn server_rss_at_start(&self) -> Option<u64> {
        self.server
            .as_ref()
            .map(|sampling| sampling.start_reading().rss_bytes)
    }

    /// Ends the window: the server's and the generator's use of resources over it.
    pub fn finish(self) -> Result<(Option<ServerUsage>, Option<GeneratorUsage>), BenchError> {
        let server = self.server.map(Sampling::finish).transpose()?;
        let generator = self
            .generator
            .zip(SchedulerTimes::now())
            .map(|(start, end)| start.usage_until(end));
        Ok((server, generator))
    }
}

/// Everything a workload needs besides its own options.
pub struct Bench {
    /// Opens clients.
    pub connector: Arc<Connector>,
    /// Label and protocol for reports.
    pub context: RunContext,
    /// Samples the server process, when `--server-pid` was given.
    pub sampler: Option<ServerSampler>,
    /// Where JSON lines go.
    pub json: Option<PathBuf>,
    /// Random part of this run's room names, so runs never share a stored document.
    pub run_id: String,
}

impl Bench {
    /// A room name unique to this run: `bench-{run}-{what}`.
    pub fn room(&self, what: &str) -> String {
        format!("bench-{}-{what}", self.run_id)
    }

    /// Starts a measurement window: the server (if there is one to sample) and the generator.
    pub fn start_sampling(&self) -> Result<Window, BenchError> {
        Ok(Window {
            server: self
                .sampler
                .as_ref()
                .map(ServerSampler::start)
                .transpose()?,
            generator: SchedulerTimes::now(),
        })
    }

    /// Ends a measurement window into `measurement`.
    pub fn finish_sampling(
        &self,
        window: Window,
        measurement: &mut Measurement,
    ) -> Result<(), BenchError> {
        let (server, generator) = window.finish()?;
        measurement.server = server;
        measurement.generator = generator;
        Ok(())
    }

    /// Prints and records `measurement`.
    pub fn emit(&self, measurement: &Measurement) -> Result<(), BenchError> {
        measurement.emit(self.json.as_deref())?;
        Ok(())
    }
}
