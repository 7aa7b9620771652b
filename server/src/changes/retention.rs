//! Which events the change log may drop.
//!
//! The log keeps the last `keep` events for `/api/changes` readers, and does not drop an event a
//! webhook has not delivered yet: a receiver that is down holds the log back (its backlog shows
//! in `/metrics`) rather than losing events. Up to a point: a backlog past `max_backlog` events
//! is trimmed anyway, because a receiver dead for days would otherwise fill the disk, and a full
//! disk stops editing. Pure, so it is unit-tested.

/// The sequence through which events may be trimmed, given the last event's, how many to keep,
/// each webhook's delivery cursor, and how far behind a webhook may hold the log.
pub(crate) fn trim_through(
    last: u64,
    keep: u64,
    delivered: impl IntoIterator<Item = u64>,
    max_backlog: u64,
) -> u64 {
    let held_back_to = delivered.into_iter().min().map_or(u64::MAX, |oldest| {
        oldest.max(last.saturating_sub(max_backlog))
    });
    last.saturating_sub(keep).min(held_back_to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_events_and_whatever_a_webhook_still_needs() {
        assert_eq!(trim_through(100, 10, [], 1000), 90);
        assert_eq!(trim_through(5, 10, [], 1000), 0);
        assert_eq!(trim_through(100, 10, [95, 40], 1000), 40);
        assert_eq!(trim_through(100, 10, [100], 1000), 90);
    }

    #[test]
    fn a_webhook_holds_the_log_back_only_up_to_its_maximum_backlog() {
        assert_eq!(trim_through(100, 10, [0], 50), 50);
        assert_eq!(trim_through(100, 10, [70], 50), 70);
        // The retention of readers still applies when it trims more.
        assert_eq!(trim_through(100, 10, [95], 5), 90);
    }
}
