//! Not yet written.

use crate::error::BenchError;
use crate::workloads::Bench;

/// Options.
#[derive(Debug, Clone, clap::Args)]
pub struct ManyRoomsOptions {
    /// Tiny run for smoke tests.
    #[arg(long)]
    pub quick: bool,
}

/// Runs the workload.
pub async fn run(_bench: &Bench, _options: &ManyRoomsOptions) -> Result<(), BenchError> {
    Err(BenchError::Options("not implemented yet".to_owned()))
}
