//! Which of a document's stored updates a room's document holds, when several nodes write it.
//!
//! On one node a room appends every update of its document itself, so its document holds every
//! seq through the last receipt. With several nodes sharing a store, others append too: their
//! seqs reach this room by the cluster link, possibly late, possibly never (a node killed between
//! its commit and its publish, a link that dropped). Two decisions depend on knowing exactly what
//! the room holds:
//! - compaction may fold only seqs the room's document holds, or it would drop another node's
//!   update from the store for good;
//! - a seq beyond a hole means something was missed, to be read from the store.
//!
//! So the room keeps the prefix of seqs it holds without a hole (`through`), and the ranges it
//! holds beyond a hole (`ahead`) until the hole is filled. Pure bookkeeping, unit-tested.

use std::collections::BTreeMap;

use storage::Seq;

/// The seqs a room's document holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AppliedSeqs {
    /// Every seq through this one is held.
    through: Seq,
    /// Ranges held beyond a hole: first -> last, disjoint, each starting past `through + 1`.
    ahead: BTreeMap<u64, u64>,
}

impl AppliedSeqs {
    /// A room that holds every seq through `through` (what it loaded).
    pub(crate) fn through(through: Seq) -> Self {
        AppliedSeqs {
            through,
            ahead: BTreeMap::new(),
        }
    }

    /// The last seq such that the room holds it and every one before it.
    pub(crate) fn contiguous(&self) -> Seq {
        self.through
    }

    /// The highest seq the room holds.
    pub(crate) fn highest(&self) -> Seq {
        self.ahead
            .last_key_value()
            .map_or(self.through, |(_, last)| Seq(*last))
    }

    /// Whether a hole lies below something held: the room missed seqs it must read.
    pub(crate) fn has_hole(&self) -> bool {
        !self.ahead.is_empty()
    }

    /// Whether every seq of `first..=last` is held already (a message heard twice).
    pub(crate) fn holds(&self, first: Seq, last: Seq) -> bool {
        if last <= self.through {
            return true;
        }
        self.ahead
            .range(..=first.0)
            .next_back()
            .is_some_and(|(_, held_last)| *held_last >= last.0)
    }

    /// `first..=last` are now held.
    pub(crate) fn record(&mut self, first: Seq, last: Seq) {
        if last <= self.through || first > last {
            return;
        }
        let (mut start, mut end) = (first.0.max(self.through.0 + 1), last.0);
        // Merge with every range it touches or adjoins.
        let touching: Vec<u64> = self
            .ahead
            .range(..=end.saturating_add(1))
            .filter(|(_, held_last)| **held_last + 1 >= start)
            .map(|(held_first, _)| *held_first)
            .collect();
        for held_first in touching {
            let held_last = self.ahead.remove(&held_first).unwrap_or(held_first);
            start = start.min(held_first);
            end = end.max(held_last);
        }
        if start == self.through.0 + 1 {
            self.through = Seq(end);
        } else {
            self.ahead.insert(start, end);
        }
    }

    /// Everything through `through` is now held (the store was read through it).
    pub(crate) fn record_through(&mut self, through: Seq) {
        if through > self.through {
            self.record(self.through.next(), through);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_seqs_grow_the_prefix() {
        let mut applied = AppliedSeqs::through(Seq(4));
        applied.record(Seq(5), Seq(5));
        applied.record(Seq(6), Seq(9));
        assert_eq!(applied.contiguous(), Seq(9));
        assert!(!applied.has_hole());
        assert!(applied.holds(Seq(7), Seq(8)));
        assert!(!applied.holds(Seq(9), Seq(10)));
    }

    #[test]
    fn a_seq_past_a_hole_waits_until_the_hole_fills() {
        let mut applied = AppliedSeqs::through(Seq(4));
        applied.record(Seq(7), Seq(8));
        assert_eq!(applied.contiguous(), Seq(4), "5 and 6 are missing");
        assert!(applied.has_hole());
        assert_eq!(applied.highest(), Seq(8));
        assert!(applied.holds(Seq(7), Seq(8)));
        assert!(!applied.holds(Seq(5), Seq(5)));
        applied.record(Seq(5), Seq(6));
        assert_eq!(applied.contiguous(), Seq(8));
        assert!(!applied.has_hole());
    }

    #[test]
    fn reading_the_store_through_a_seq_fills_every_hole_below_it() {
        let mut applied = AppliedSeqs::through(Seq(1));
        applied.record(Seq(4), Seq(4));
        applied.record(Seq(9), Seq(10));
        applied.record_through(Seq(6));
        assert_eq!(applied.contiguous(), Seq(6));
        assert!(applied.has_hole(), "7 and 8 still missing");
        applied.record_through(Seq(8));
        assert_eq!(applied.contiguous(), Seq(10));
        applied.record_through(Seq(3));
        assert_eq!(applied.contiguous(), Seq(10), "never moves back");
    }

    proptest! {
        /// Whatever order ranges arrive in, the prefix is exactly the seqs held without a hole.
        #[test]
        fn the_prefix_is_what_is_held_without_a_hole(
            ranges in proptest::collection::vec((1u64..40, 0u64..4), 0..30)
        ) {
            let mut applied = AppliedSeqs::through(Seq(0));
            let mut held = std::collections::BTreeSet::new();
            for (first, length) in ranges {
                applied.record(Seq(first), Seq(first + length));
                held.extend(first..=first + length);
                let expected = (1..).take_while(|seq| held.contains(seq)).last().unwrap_or(0);
                prop_assert_eq!(applied.contiguous(), Seq(expected));
                prop_assert_eq!(applied.highest(), Seq(held.last().copied().unwrap_or(0)));
                prop_assert_eq!(applied.has_hole(), held.len() as u64 != expected);
                for seq in 1..45 {
                    prop_assert_eq!(applied.holds(Seq(seq), Seq(seq)), held.contains(&seq));
                }
            }
        }
    }
}
