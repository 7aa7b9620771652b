//! Why a workload could not run at all (as opposed to running and finding problems, which a
//! measurement reports with `valid: false`).

use crate::connection::ConnectError;
use crate::metrics_probe::ProbeError;
use crate::server_sampler::SampleError;
use crate::trace::TraceError;

/// A setup failure: the process exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A client could not connect or sync.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The trace could not be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The server process could not be sampled.
    #[error(transparent)]
    Sample(#[from] SampleError),
    /// The server's metrics could not be read.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The report could not be written.
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
    /// The options do not make a runnable workload.
    #[error("{0}")]
    Options(String),
    /// The server never reached the state the workload waits for.
    #[error("{0}")]
    Timeout(String),
}
