//! When to reconnect, and how long to wait first.
//!
//! A client reconnects after anything a later attempt can cure: a dropped connection, a server
//! restart (1001), an overloaded server (1013, HTTP 503, HTTP 429), a slow-consumer or keepalive
//! close (4000, 4008), a rate-limit close (4429, after waiting). It stops on what would only
//! repeat: refused tokens (HTTP 401/403), a bad document id (HTTP 400), and close codes that say
//! the client or its data is at fault, including y-websocket's final range 4400-4499 (Quire's
//! 4410 deleted, 4413 too large; Hocuspocus-style 4401/4403 auth refusals). Which close codes
//! are final is `crdt_core::close_code::is_final`, next to the codes the server sends.
//!
//! Waits grow exponentially with full-range jitter between half and all of the delay, so a
//! restarted server is not hit by every client in the same millisecond; they start over once a
//! connection got as far as a completed sync.

use std::time::Duration;

use rand::Rng;

/// How a client reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// The wait before the first retry.
    pub initial_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
    /// Consecutive failed attempts after which the client gives up (`None`: never).
    pub max_failed_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    /// 100 ms doubling up to 5 s, forever: an editor plugin should survive any outage.
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_failed_attempts: None,
        }
    }
}

/// The waits between attempts, one policy's worth.
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: ReconnectPolicy,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(policy: ReconnectPolicy) -> Self {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// A connection worked (it completed a sync): the next failure starts from the beginning.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records a failed attempt; the wait before the next one, or `None` to give up.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if self
            .policy
            .max_failed_attempts
            .is_some_and(|most| self.failures > most)
        {
            return None;
        }
        let doublings = (self.failures - 1).min(16);
        let delay = self
            .policy
            .initial_delay
            .saturating_mul(1 << doublings)
            .min(self.policy.max_delay);
        let jittered = rand::rng().random_range(delay / 2..=delay);
        Some(jittered)
    }

    /// Consecutive failures so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

/// Whether an HTTP status refusing the upgrade is worth trying again.
pub(crate) fn refusal_is_final(status: u16) -> bool {
    !matches!(status, 408 | 429 | 500..=599)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_jitter_up_to_the_maximum() {
        let mut backoff = Backoff::new(ReconnectPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_failed_attempts: None,
        });
        let bounds = [100, 200, 400, 800, 1000, 1000];
        for upper in bounds {
            let delay = backoff.next_delay().unwrap();
            let upper = Duration::from_millis(upper);
            assert!(
                delay <= upper && delay >= upper / 2,
                "{delay:?} vs {upper:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay().unwrap() <= Duration::from_millis(100));
    }

    #[test]
    fn gives_up_after_the_allowed_failures() {
        let mut backoff = Backoff::new(ReconnectPolicy {
            max_failed_attempts: Some(2),
            ..ReconnectPolicy::default()
        });
        assert!(backoff.next_delay().is_some());
        assert!(backoff.next_delay().is_some());
        assert!(backoff.next_delay().is_none());
        assert_eq!(backoff.failures(), 3);
    }

    #[test]
    fn refusals_worth_retrying_are_the_temporary_ones() {
        assert!(refusal_is_final(401) && refusal_is_final(403) && refusal_is_final(400));
        assert!(!refusal_is_final(503) && !refusal_is_final(429));
    }
}
