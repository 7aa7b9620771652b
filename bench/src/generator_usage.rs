//! The load generator's own CPU time and the time it spent runnable but waiting for a core.
//!
//! A load generator that does not get its core measures the scheduler, not the server: on a
//! busy machine the wait for a core alone turns into milliseconds of "latency" and writers that
//! fall behind. Every measurement therefore reports, from `/proc/self/schedstat` (the main
//! thread, which runs the whole current-thread runtime), how long the generator ran and how long
//! it waited on the run queue; a wait comparable to the run time means the numbers are suspect.

use serde::Serialize;

/// Nanoseconds on the CPU and waiting for it, as `/proc/self/schedstat` counts them.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerTimes {
    running_nanos: u64,
    waiting_nanos: u64,
}

/// The generator's use of its core over a measurement.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct GeneratorUsage {
    /// Time on the CPU.
    pub cpu_seconds: f64,
    /// Time runnable but waiting for a CPU.
    pub runqueue_wait_seconds: f64,
}

impl SchedulerTimes {
    /// The main thread's times now; `None` where `/proc/self/schedstat` is unavailable.
    pub fn now() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/self/schedstat").ok()?;
        let mut fields = text.split_whitespace().map(str::parse::<u64>);
        Some(SchedulerTimes {
            running_nanos: fields.next()?.ok()?,
            waiting_nanos: fields.next()?.ok()?,
        })
    }

    /// What was used since `self`.
    pub fn usage_until(self, later: SchedulerTimes) -> GeneratorUsage {
        let seconds = |nanos: u64| nanos as f64 / 1e9;
        GeneratorUsage {
            cpu_seconds: seconds(later.running_nanos.saturating_sub(self.running_nanos)),
            runqueue_wait_seconds: seconds(later.waiting_nanos.saturating_sub(self.waiting_nanos)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_time_grows_while_this_thread_works() {
        let before = SchedulerTimes::now().expect("/proc/self/schedstat is readable");
        let mut sum = 0u64;
        for value in 0..20_000_000u64 {
            sum = sum.wrapping_add(value * value);
        }
        std::hint::black_box(sum);
        let usage = before.usage_until(SchedulerTimes::now().unwrap());
        assert!(usage.cpu_seconds > 0.0, "{usage:?}");
        assert!(usage.runqueue_wait_seconds >= 0.0);
    }
}
