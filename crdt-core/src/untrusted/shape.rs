//! What an update depends on, and whether a document has all of it.
//!
//! An update a document cannot integrate yet (it follows clocks the document lacks, or points at
//! items it has not seen) is kept by yrs as *pending*, and merged with whatever arrives next.
//! That merge is where yrs breaks on crafted input: content sent twice under one id, once as an
//! item and once as a garbage-collected range, wraps its length arithmetic and leaves a document
//! that panics when it is next encoded, in memory and again after every reload. A stock Yjs
//! client never sends the server such an update: over one socket its updates arrive in order,
//! and whatever it learned elsewhere it sends in its SyncStep2 first. So the room refuses an
//! update with missing dependencies instead of keeping it pending; the client reconnects, and
//! its SyncStep2 brings everything the update needed.

use std::collections::HashMap;

use yrs::StateVector;
use yrs::block::ClientID;

/// The clocks an update covers, and the ids it refers to, as the walk read them.
#[derive(Debug, Default)]
pub struct UpdateShape {
    /// Each block's client and clock range, in the update's order (skips left out).
    blocks: Vec<(u64, u64, u64)>,
    /// Ids the update's items point at: origins, right origins, parents.
    references: Vec<(u64, u64)>,
    /// Deleted ranges: client, start, end.
    deletions: Vec<(u64, u64, u64)>,
}

impl UpdateShape {
    pub(super) fn add_block(&mut self, client: u64, start: u64, end: u64) {
        self.blocks.push((client, start, end));
    }

    pub(super) fn add_reference(&mut self, client: u64, clock: u64) {
        self.references.push((client, clock));
    }

    pub(super) fn add_deletion(&mut self, client: u64, start: u64, end: u64) {
        self.deletions.push((client, start, end));
    }

    /// Whether a document at `state` has everything the update builds on: each client's blocks
    /// follow on from what the document (or the update itself) holds, and every id the update
    /// points at or deletes is there.
    pub fn is_satisfied_by(&self, state: &StateVector) -> bool {
        let mut reach: HashMap<u64, u64> = HashMap::new();
        let known = |reach: &HashMap<u64, u64>, client: u64| {
            reach
                .get(&client)
                .copied()
                .unwrap_or_else(|| u64::from(state.get(&ClientID::new(client))))
        };
        for &(client, start, end) in &self.blocks {
            let held = known(&reach, client);
            if start > held {
                return false;
            }
            reach.insert(client, held.max(end));
        }
        self.references
            .iter()
            .all(|&(client, clock)| clock < known(&reach, client))
            && self
                .deletions
                .iter()
                .all(|&(client, _, end)| end <= known(&reach, client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(entries: &[(u64, u32)]) -> StateVector {
        let mut state = StateVector::default();
        for &(client, clock) in entries {
            state.set_max(ClientID::new(client), clock);
        }
        state
    }

    #[test]
    fn blocks_must_follow_on_from_what_is_held() {
        let mut shape = UpdateShape::default();
        shape.add_block(7, 3, 5);
        assert!(shape.is_satisfied_by(&state(&[(7, 3)])));
        assert!(
            shape.is_satisfied_by(&state(&[(7, 4)])),
            "an overlap is a resend"
        );
        assert!(
            !shape.is_satisfied_by(&state(&[(7, 2)])),
            "clock 2 is missing"
        );
        assert!(!shape.is_satisfied_by(&state(&[])));
    }

    #[test]
    fn references_and_deletions_may_point_into_the_update_itself() {
        let mut shape = UpdateShape::default();
        shape.add_block(1, 0, 4);
        shape.add_reference(1, 3);
        shape.add_reference(2, 9);
        shape.add_deletion(1, 0, 4);
        assert!(shape.is_satisfied_by(&state(&[(2, 10)])));
        assert!(
            !shape.is_satisfied_by(&state(&[(2, 9)])),
            "item 2#9 is missing"
        );
        let mut deleting = UpdateShape::default();
        deleting.add_deletion(3, 5, 8);
        assert!(!deleting.is_satisfied_by(&state(&[(3, 7)])));
        assert!(deleting.is_satisfied_by(&state(&[(3, 8)])));
    }
}
