//! The flooding room on a thread of its own, below the measuring thread's priority.
//!
//! The load generator measures on one thread (a current-thread runtime). Making a 1 MB update
//! and reading the flood's 1 MB deliveries there stalls it for milliseconds at a time, and every
//! quiet delivery that arrives meanwhile is timed late: against the null relay, which does no
//! work of its own, the quiet rooms' p99 went from 0.5 ms alone to 4 ms beside the flood, all of
//! it the generator's. On a thread of its own, with its own runtime and a lower priority, the
//! flood still runs at its rate (the generator's core is mostly idle) while the quiet rooms'
//! timing sees the server, not the generator.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::connection::{ConnectError, Connector};
use crate::error::BenchError;
use crate::traffic::flood::{FloodOutcome, FloodRoom};

/// How much less the flood's thread weighs than the measuring thread (see `nice(1)`).
const FLOOD_NICENESS: i32 = 5;

/// What the flood does once joined.
#[derive(Debug, Clone, Copy)]
pub struct FloodPlan {
    /// Characters of each update.
    pub bytes: usize,
    /// Updates per second.
    pub per_second: f64,
    /// Readers besides the writer.
    pub readers: u32,
}

/// A flooding room joined on its own thread, waiting to start.
pub struct FloodThread {
    start: oneshot::Sender<()>,
    outcome: oneshot::Receiver<FloodOutcome>,
}

impl FloodThread {
    /// Starts the thread, joins the flood's clients to `room` there, and returns once they
    /// are in.
    pub async fn join(
        connector: Arc<Connector>,
        room: String,
        plan: FloodPlan,
        until: CancellationToken,
    ) -> Result<Self, BenchError> {
        let (joined_sender, joined) = oneshot::channel::<Result<(), ConnectError>>();
        let (start, started) = oneshot::channel::<()>();
        let (outcome_sender, outcome) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("flood".to_owned())
            .spawn(move || {
                lower_priority();
                runtime.block_on(async move {
                    let flood = match FloodRoom::join(&connector, &room, plan.readers).await {
                        Ok(flood) => flood,
                        Err(error) => {
                            let _ = joined_sender.send(Err(error));
                            return;
                        }
                    };
                    let _ = joined_sender.send(Ok(()));
                    if started.await.is_ok() {
                        let outcome = flood.run(plan.bytes, plan.per_second, until).await;
                        let _ = outcome_sender.send(outcome);
                    }
                });
            })?;
        match joined.await {
            Ok(Ok(())) => Ok(FloodThread { start, outcome }),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(BenchError::Timeout(
                "the flood's thread ended before its clients joined".to_owned(),
            )),
        }
    }

    /// Starts the flood; [`RunningFlood::finish`] waits for it to end.
    pub fn start(self) -> RunningFlood {
        let _ = self.start.send(());
        RunningFlood {
            outcome: self.outcome,
        }
    }
}

/// A flood under way.
pub struct RunningFlood {
    outcome: oneshot::Receiver<FloodOutcome>,
}

impl RunningFlood {
    /// What the flood amounted to, once its token is cancelled and its clients closed.
    pub async fn finish(self) -> FloodOutcome {
        self.outcome.await.unwrap_or_else(|_| FloodOutcome {
            failure: Some("the flood's thread ended without an outcome".to_owned()),
            ..FloodOutcome::default()
        })
    }
}

/// Lowers the calling thread's priority; without it the flood still runs, only with more of
/// the generator's own stalls in the quiet rooms' numbers.
fn lower_priority() {
    let thread = rustix::thread::gettid();
    if let Ok(current) = rustix::process::getpriority_process(Some(thread)) {
        let _ = rustix::process::setpriority_process(Some(thread), current + FLOOD_NICENESS);
    }
}
