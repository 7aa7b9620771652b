//! What an update depends on, whether a document has all of it, and where its items link to.
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
use std::num::NonZeroU64;
use std::sync::Arc;

use yrs::StateVector;
use yrs::block::ClientID;

/// An item's id as the walk read it: a client and a clock.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemId {
    /// The client plus one: an `Option<ItemId>` then needs no room for its tag, and an update's
    /// blocks are kept per block (see the allocation bound in `tests/decode_allocation.rs`).
    client_plus_one: NonZeroU64,
    clock: u32,
}

impl ItemId {
    /// The id of `client`'s item at `clock`; `client` fits 53 bits (the walk checks it).
    pub fn new(client: u64, clock: u32) -> Self {
        let client_plus_one = NonZeroU64::new(client.saturating_add(1)).unwrap_or(NonZeroU64::MIN);
        ItemId {
            client_plus_one,
            clock,
        }
    }

    /// The client.
    pub fn client(self) -> u64 {
        self.client_plus_one.get() - 1
    }

    /// The clock.
    pub fn clock(self) -> u32 {
        self.clock
    }
}

impl std::fmt::Debug for ItemId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}#{}", self.client(), self.clock)
    }
}

/// One block of an update: a client's clock range, and how a reader finds the type it belongs
/// in. A block with no links at all is a garbage-collected range (an item always has an origin
/// or a parent), content whose type no reader knows any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeBlock {
    /// The client whose clocks the block covers.
    pub client: u64,
    /// Its first clock.
    pub start: u32,
    /// The clock after its last.
    pub end: u32,
    /// The item left of it when it was inserted (that item's last clock).
    pub origin: Option<ItemId>,
    /// The item right of it when it was inserted.
    pub right_origin: Option<ItemId>,
    /// Its type, written out only when it has neither origin. Boxed: most items have origins.
    pub parent: Option<Box<NamedParent>>,
}

impl ShapeBlock {
    /// Whether this is a garbage-collected range rather than an item.
    pub fn is_collected(&self) -> bool {
        self.origin.is_none() && self.right_origin.is_none() && self.parent.is_none()
    }

    /// The ids the block points at: its origins and the item holding its nested type.
    pub fn references(&self) -> impl Iterator<Item = ItemId> + '_ {
        let holder = match self.parent.as_deref() {
            Some(NamedParent {
                of: ParentType::Nested(holder),
                ..
            }) => Some(*holder),
            _ => None,
        };
        self.origin
            .into_iter()
            .chain(self.right_origin)
            .chain(holder)
    }
}

/// A type an item belongs in, and for a map value, its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedParent {
    /// The type.
    pub of: ParentType,
    /// The map key, for a map value.
    pub key: Option<Arc<str>>,
}

/// A type, as an update names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParentType {
    /// A root type, by name.
    Root(Arc<str>),
    /// A nested type, by the id of the item holding it.
    Nested(ItemId),
}

/// The clocks an update covers, the ids it refers to and the deletions it makes, as the walk
/// read them.
#[derive(Debug, Default)]
pub struct UpdateShape {
    /// Each block, in the update's order (skips left out): each client's together, in clock order.
    blocks: Vec<ShapeBlock>,
    /// Deleted ranges: client, start, end.
    deletions: Vec<(u64, u64, u64)>,
}

impl UpdateShape {
    pub(super) fn add_block(&mut self, block: ShapeBlock) {
        self.blocks.push(block);
    }

    pub(super) fn add_deletion(&mut self, client: u64, start: u64, end: u64) {
        self.deletions.push((client, start, end));
    }

    /// The update's blocks, each client's together and in clock order (skips left out).
    pub fn blocks(&self) -> &[ShapeBlock] {
        &self.blocks
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
        for block in &self.blocks {
            let held = known(&reach, block.client);
            if u64::from(block.start) > held {
                return false;
            }
            reach.insert(block.client, held.max(u64::from(block.end)));
        }
        self.blocks
            .iter()
            .flat_map(ShapeBlock::references)
            .all(|id| u64::from(id.clock()) < known(&reach, id.client()))
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

    fn collected(client: u64, start: u32, end: u32) -> ShapeBlock {
        ShapeBlock {
            client,
            start,
            end,
            origin: None,
            right_origin: None,
            parent: None,
        }
    }

    fn after(client: u64, start: u32, origin: (u64, u32)) -> ShapeBlock {
        ShapeBlock {
            origin: Some(ItemId::new(origin.0, origin.1)),
            ..collected(client, start, start + 1)
        }
    }

    #[test]
    fn blocks_must_follow_on_from_what_is_held() {
        let mut shape = UpdateShape::default();
        shape.add_block(collected(7, 3, 5));
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
        shape.add_block(collected(1, 0, 4));
        shape.add_block(after(1, 4, (1, 3)));
        shape.add_block(after(3, 0, (2, 9)));
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
