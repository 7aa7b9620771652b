//! When a failed webhook delivery is tried again: exponential backoff with a cap and jitter.
//!
//! The wait doubles with each consecutive failure, from [`FIRST_RETRY`] up to the configured
//! cap, and is then spread over its upper half by a jitter the caller draws, so many servers
//! retrying one receiver that came back do not all knock at once. Pure: the caller supplies the
//! jitter, so the schedule is unit-tested exactly.

use std::time::Duration;

/// The wait after the first failure, before jitter.
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(500);

/// The retry schedule of one webhook.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    first: Duration,
    cap: Duration,
}

impl Backoff {
    /// Waits from [`FIRST_RETRY`] (or `cap`, if smaller) doubling up to `cap`.
    pub(crate) fn new(cap: Duration) -> Self {
        Backoff {
            first: FIRST_RETRY.min(cap),
            cap,
        }
    }

    /// The wait after `failures` consecutive failures (at least 1), given `jitter` in `[0, 1)`:
    /// between half and all of the doubled wait.
    pub(crate) fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        let base = self
            .first
            .checked_mul(1 << doublings.min(31))
            .unwrap_or(self.cap)
            .min(self.cap);
        base.mul_f64(0.5 + jitter.clamp(0.0, 1.0) * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(10));
        let upper: Vec<Duration> = (1..=7)
            .map(|failures| backoff.delay(failures, 1.0))
            .collect();
        assert_eq!(
            upper,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000].map(Duration::from_millis)
        );
        assert_eq!(backoff.delay(u32::MAX, 1.0), Duration::from_secs(10));
    }

    #[test]
    fn jitter_spreads_each_wait_over_its_upper_half() {
        let backoff = Backoff::new(Duration::from_secs(60));
        assert_eq!(backoff.delay(3, 0.0), Duration::from_millis(1000));
        assert_eq!(backoff.delay(3, 0.5), Duration::from_millis(1500));
        assert!(backoff.delay(3, 0.999) < Duration::from_millis(2000));
    }

    #[test]
    fn a_cap_below_the_first_wait_is_the_wait() {
        let backoff = Backoff::new(Duration::from_millis(100));
        assert_eq!(backoff.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff.delay(9, 1.0), Duration::from_millis(100));
    }
}
