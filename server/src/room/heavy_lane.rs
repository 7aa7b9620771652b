//! The heavy lane: threads, below the async workers' priority, where rooms do work that takes
//! milliseconds, so that it never holds up the rooms whose updates take microseconds.
//!
//! A room's owner is synchronous and handles a batch of commands in one go. Applying a 1 MB
//! update (decoding it, integrating it into yrs, encoding it again) takes several milliseconds,
//! and a tokio worker doing that does nothing else meanwhile: every other room on the worker
//! waits, however small its own update (issue #20 measured a quiet room's p99 going from 2 ms
//! to 30-45 ms beside one room receiving 1 MB updates 50 times a second, on one core). Tokio
//! cannot preempt a task; the kernel can preempt a thread. So a room whose batch is large hands
//! its owner to this lane and waits for it to come back: the room keeps its order (it handles
//! nothing else meanwhile), the worker goes on serving every other room, and the kernel shares
//! the core between them. The lane's threads run at a lower priority (nice
//! [`HEAVY_LANE_NICENESS`]), so that when both want the core the small updates get it first;
//! the heavy work still gets its share and is never starved.
//!
//! What runs here is plain synchronous work handed over as a function, as with tokio's
//! `spawn_blocking`; a panic inside comes back to the room's task, which fails alone as it would
//! have with the work done in place.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use tracing::debug;

/// A batch whose payloads add up to this many bytes is handled on the heavy lane. Typing and
/// ordinary pastes are far below it; what passes it takes a millisecond or more to apply.
pub(crate) const HEAVY_BATCH_BYTES: usize = 64 * 1024;

/// How much less the lane's threads weigh than the async workers: at nice 5 the kernel's fair
/// scheduler gives a busy worker about three quarters of a shared core, and the lane the rest.
pub(crate) const HEAVY_LANE_NICENESS: i32 = 5;

type Job = Box<dyn FnOnce() + Send>;

/// The lane's queue; cheap to clone. Its threads end once every clone is gone.
#[derive(Clone)]
pub(crate) struct HeavyLane {
    jobs: Sender<Job>,
}

impl HeavyLane {
    /// Starts `threads` lane threads (at least one), named `{name}-{index}`.
    pub(crate) fn start(name: &str, threads: usize) -> Self {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || serve(&queue))
                .expect("the OS lets us start the heavy lane's threads");
        }
        HeavyLane { jobs }
    }

    /// Runs `work` on a lane thread and returns what it returns. A panic in `work` resumes
    /// here, in the caller's task.
    pub(crate) async fn run<T, F>(&self, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, outcome) = oneshot::channel::<Result<T, Box<dyn Any + Send>>>();
        let job: Job = Box::new(move || {
            let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
        });
        if let Err(refused) = self.jobs.send(job) {
            // The lane's threads are gone (they end only with the process): do it in place.
            (refused.0)();
        }
        match outcome.await {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => panic!("a heavy lane job ended without an outcome"),
        }
    }
}

/// What a panic said, when it said it with a string.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

fn serve(queue: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Lowers the calling thread's priority by [`HEAVY_LANE_NICENESS`]. Linux keeps a niceness per
/// thread; where that fails (a sandbox refusing it) the thread still works, only without the
/// preference.
pub(crate) fn lower_priority() {
    let thread = rustix::thread::gettid();
    let current = rustix::process::getpriority_process(Some(thread)).unwrap_or(0);
    if let Err(error) =
        rustix::process::setpriority_process(Some(thread), current + HEAVY_LANE_NICENESS)
    {
        debug!(%error, "the heavy lane runs at normal priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_lane_thread_and_its_value_comes_back() {
        let lane = HeavyLane::start("quire-heavy", 1);
        let name = lane
            .run(|| std::thread::current().name().map(str::to_owned))
            .await;
        assert_eq!(name.as_deref(), Some("quire-heavy-0"));
    }

    #[tokio::test]
    async fn the_lane_runs_below_the_callers_priority() {
        let lane = HeavyLane::start("quire-heavy", 1);
        let caller = rustix::process::getpriority_process(None).unwrap();
        let lane_priority = lane
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap())
            .await;
        assert_eq!(lane_priority, caller + HEAVY_LANE_NICENESS);
    }

    #[tokio::test]
    async fn a_panic_in_the_work_reaches_the_caller() {
        let lane = HeavyLane::start("quire-heavy", 1);
        let outcome = tokio::spawn(async move { lane.run(|| panic!("boom")).await }).await;
        let error = outcome.expect_err("the panic came back");
        assert!(error.is_panic());
    }

    #[tokio::test]
    async fn the_lane_goes_on_after_a_panic() {
        let lane = HeavyLane::start("quire-heavy", 1);
        let failing = lane.clone();
        let _ = tokio::spawn(async move { failing.run(|| panic!("boom")).await }).await;
        assert_eq!(lane.run(|| 7).await, 7);
    }
}
