//! Which events the change log may drop.
//!
//! The log keeps the last `keep` events for `/api/changes` readers, and never drops an event a
//! webhook has not delivered yet: a dead receiver holds the log back (its backlog shows in
//! `/metrics`) rather than losing events. Pure, so it is unit-tested.

/// The sequence through which events may be trimmed, given the last event's, how many to keep,
/// and each webhook's delivery cursor.
pub(crate) fn trim_through(last: u64, keep: u64, delivered: impl IntoIterator<Item = u64>) -> u64 {
    delivered
        .into_iter()
        .fold(last.saturating_sub(keep), u64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_events_and_whatever_a_webhook_still_needs() {
        assert_eq!(trim_through(100, 10, []), 90);
        assert_eq!(trim_through(5, 10, []), 0);
        assert_eq!(trim_through(100, 10, [95, 40]), 40);
        assert_eq!(trim_through(100, 10, [100]), 90);
    }
}
