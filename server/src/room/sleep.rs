//! When a quiet room lets its document go while its clients stay connected.
//!
//! Thousands of idle clients, each alone in its own document, would otherwise hold thousands of
//! documents in memory for nobody. A room quiet for `--document-idle-seconds`, with nothing in
//! flight and no live awareness state (presence lives only in memory), compacts its log and
//! drops its document, keeping only who is connected ([`crdt_core::Members`]). The first command
//! that needs the document wakes it: the owner reloads it, takes the members back with their
//! ids, and handles the command as if it had never slept. Departures need no document, so they
//! are handled asleep; the owner (`super::owner`) makes all of these decisions. What is here is
//! how long "quiet" is.

use std::time::Duration;

/// Documents stored in fewer bytes than this reload in well under a millisecond (a sled read and
/// a small apply), so they sleep sooner: what a sleeping room saves is memory, what it costs is
/// the reload, and for them the saving wins early.
pub(crate) const SMALL_DOCUMENT_BYTES: u64 = 64 * 1024;

/// How long a room whose document takes `stored_bytes` in storage stays loaded without a command,
/// given `--document-idle-seconds` as `idle`.
pub(crate) fn idle_before_sleep(idle: Duration, stored_bytes: u64) -> Duration {
    if stored_bytes < SMALL_DOCUMENT_BYTES {
        idle / 10
    } else {
        idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_documents_sleep_after_a_tenth_of_the_idle_time() {
        let idle = Duration::from_secs(10);
        assert_eq!(idle_before_sleep(idle, 0), Duration::from_secs(1));
        assert_eq!(
            idle_before_sleep(idle, SMALL_DOCUMENT_BYTES - 1),
            Duration::from_secs(1)
        );
        assert_eq!(idle_before_sleep(idle, SMALL_DOCUMENT_BYTES), idle);
    }
}
