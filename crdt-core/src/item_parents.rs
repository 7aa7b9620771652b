//! The type each item of a document belongs in, as Yjs clients work it out, so that the room can
//! refuse an update that yrs and Yjs would integrate differently.
//!
//! An update names an item's parent only when the item has no neighbours; otherwise a reader
//! takes the parent from its neighbours at insertion time (its left and right origins). A stock
//! Yjs client never makes an item whose two origins lie in different types, but a crafted update
//! can, and yrs and Yjs then part ways (yrs 0.28.1, `Update::integrate` and `Item::integrate`,
//! against Yjs's `Item.getMissing` and `Item.integrate`):
//! - origins in two different types: both readers take the left one's, but yrs's length
//!   bookkeeping of the parent underflows when the item is later deleted;
//! - a left origin without a map key and a right one with: yrs copies the key from the right
//!   neighbour, Yjs does not, so the item is a map value to one and a list element to the other;
//! - an origin inside a garbage-collected range: Yjs makes the item garbage too (its type is
//!   unknown), yrs takes the type from the other origin and shows the content.
//!
//! In each case the server's document, and so every late joiner's, holds content the clients
//! that saw the update live do not. So the room refuses an item whose origins disagree, unless
//! the type one of them names is deleted (then neither reader shows the item, and a client that
//! typed into a type someone else deleted is not locked out).
//!
//! yrs keeps item parents private, so the room keeps this index itself: per client, runs of
//! clocks with the same parent. It is built from the document's encoding when first needed and
//! extended with every update the room admits; one client typing in one text is one run, so it
//! stays small next to the document.

use std::collections::{BTreeMap, HashMap};

use yrs::block::{ClientID, ID};
use yrs::{Doc, IdSet, ReadTxn, StateVector, Transact};

use crate::untrusted::{
    DecodeError, ItemId, NamedParent, ParentType, ShapeBlock, UpdateShape, update_v1_shape,
};

/// A room's index: built from its document when a peer's update first needs it, forgotten when
/// the document changes in a way the index does not follow (stored updates, restores).
#[derive(Debug, Default)]
pub(crate) struct ParentCheck {
    /// `Some(None)`: the document's own encoding does not walk (content stored before the walk
    /// refused it), so updates are applied unchecked, as before this check existed.
    index: Option<Option<ItemParents>>,
}

impl ParentCheck {
    /// Works out where each item of a peer's update belongs in `doc`, refusing an item yrs and
    /// Yjs would place differently. `None` when the document cannot be indexed.
    pub(crate) fn admit(
        &mut self,
        doc: &Doc,
        shape: &UpdateShape,
    ) -> Result<Option<Admission>, DecodeError> {
        let index = self.index.get_or_insert_with(|| {
            let state = doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            update_v1_shape(&state)
                .and_then(|shape| ItemParents::of_document(&shape))
                .ok()
        });
        let Some(index) = index else {
            return Ok(None);
        };
        let mut deleted: Option<IdSet> = None;
        let mut is_deleted = |holder: ItemId| {
            deleted
                .get_or_insert_with(|| doc.transact().snapshot().delete_set)
                .contains(&ID::new(ClientID::new(holder.client()), holder.clock()))
        };
        index.admit(shape, &mut is_deleted).map(Some)
    }

    /// Records an admitted update once the document holds it.
    pub(crate) fn record(&mut self, shape: &UpdateShape, admission: Admission) {
        if let Some(Some(index)) = &mut self.index {
            index.record(shape, admission);
        }
    }

    /// The document changed without an admission: the index is rebuilt when next needed.
    pub(crate) fn forget(&mut self) {
        self.index = None;
    }
}

/// Where an item belongs, interned: an index into `ItemParents::parents`, or [`UNKNOWN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParentIndex(u32);

/// The parent of garbage-collected content, and of items Yjs turns into garbage on arrival.
const UNKNOWN: ParentIndex = ParentIndex(u32::MAX);

/// Clocks up to `end` (from the run's key in the map) whose items belong in `parent`.
#[derive(Debug, Clone, Copy)]
struct Run {
    end: u32,
    parent: ParentIndex,
}

/// How an update's items are judged: a peer's are refused when their origins disagree; the
/// document's own encoding is taken as yrs integrated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judging {
    Peer,
    Document,
}

/// What [`ItemParents::admit`] worked out for an update's blocks, to record once it applied.
#[derive(Debug)]
pub(crate) struct Admission {
    parents: Vec<ParentIndex>,
}

/// The parent of every item of one document (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct ItemParents {
    clients: HashMap<u64, BTreeMap<u32, Run>>,
    parents: Vec<NamedParent>,
    interned: HashMap<NamedParent, ParentIndex>,
}

impl ItemParents {
    /// The index of a document whose whole state is `shape` (its v1 encoding's).
    pub(crate) fn of_document(shape: &UpdateShape) -> Result<Self, DecodeError> {
        let mut index = ItemParents::default();
        let admission = index.judge(shape.blocks(), Judging::Document, &mut |_| false)?;
        index.record(shape, admission);
        Ok(index)
    }

    /// Works out where each item of a peer's update belongs, refusing one whose origins lie in
    /// different types (or one in a collected range, one in a type) unless that type is deleted:
    /// `is_deleted` tells whether the item holding a nested type is.
    pub(crate) fn admit(
        &mut self,
        shape: &UpdateShape,
        is_deleted: &mut dyn FnMut(ItemId) -> bool,
    ) -> Result<Admission, DecodeError> {
        self.judge(shape.blocks(), Judging::Peer, is_deleted)
    }

    /// Records what an admitted update added, once the document holds it.
    pub(crate) fn record(&mut self, shape: &UpdateShape, admission: Admission) {
        for (block, parent) in shape.blocks().iter().zip(admission.parents) {
            let runs = self.clients.entry(block.client).or_default();
            // The document holds every clock of a client below its state, and so does this.
            let held = runs.last_key_value().map_or(0, |(_, run)| run.end);
            if block.end <= held {
                continue;
            }
            let start = block.start.max(held);
            let end = block.end;
            match runs.last_entry() {
                Some(mut last) if last.get().end == start && last.get().parent == parent => {
                    last.get_mut().end = end;
                }
                _ => {
                    runs.insert(start, Run { end, parent });
                }
            }
        }
    }

    /// How many runs the index holds (for tests and size checks).
    #[cfg(test)]
    fn runs(&self) -> usize {
        self.clients.values().map(BTreeMap::len).sum()
    }

    fn judge(
        &mut self,
        blocks: &[ShapeBlock],
        judging: Judging,
        is_deleted: &mut dyn FnMut(ItemId) -> bool,
    ) -> Result<Admission, DecodeError> {
        let lookup = UpdateLookup::new(blocks);
        let mut parents: Vec<Option<ParentIndex>> = vec![None; blocks.len()];
        let mut on_stack = vec![false; blocks.len()];
        let mut stack = Vec::new();
        for first in 0..blocks.len() {
            stack.push(first);
            // Depth first through what each item links to inside the update, without recursion:
            // an update can chain its items as long as it likes.
            while let Some(&current) = stack.last() {
                if parents[current].is_some() {
                    stack.pop();
                    continue;
                }
                on_stack[current] = true;
                let unresolved = blocks[current]
                    .references()
                    .filter_map(|id| self.find_in_update(id, &lookup))
                    .find(|&linked| parents[linked].is_none());
                if let Some(linked) = unresolved {
                    if on_stack[linked] {
                        return Err(DecodeError::Inconsistent(
                            "items refer to each other in a circle",
                        ));
                    }
                    stack.push(linked);
                    continue;
                }
                let parent_of = |id: ItemId| -> ParentIndex {
                    match self.find_in_document(id) {
                        Some(parent) => parent,
                        None => self
                            .find_in_update(id, &lookup)
                            .and_then(|linked| parents[linked])
                            .unwrap_or(UNKNOWN),
                    }
                };
                let derived = derive(&blocks[current], parent_of);
                parents[current] = Some(match derived {
                    Derived::Known(parent) => parent,
                    Derived::Named(parent) => self.intern(parent),
                    Derived::Disagreeing { left, right } => match judging {
                        // Yjs takes the left origin's type, or garbage if either is collected.
                        Judging::Document if left == UNKNOWN || right == UNKNOWN => UNKNOWN,
                        Judging::Document => left,
                        Judging::Peer => self.settle(left, right, is_deleted)?,
                    },
                });
                on_stack[current] = false;
                stack.pop();
            }
        }
        Ok(Admission {
            parents: parents.into_iter().map(|p| p.unwrap_or(UNKNOWN)).collect(),
        })
    }

    /// Origins in different places: refused, unless one is collected and the other names a
    /// deleted nested type, where neither yrs nor Yjs shows the item.
    fn settle(
        &self,
        left: ParentIndex,
        right: ParentIndex,
        is_deleted: &mut dyn FnMut(ItemId) -> bool,
    ) -> Result<ParentIndex, DecodeError> {
        let known = match (left, right) {
            (UNKNOWN, known) | (known, UNKNOWN) => known,
            _ => {
                return Err(DecodeError::Inconsistent(
                    "an item's origins lie in different types",
                ));
            }
        };
        match self.parents[known.0 as usize].of {
            ParentType::Nested(holder) if is_deleted(holder) => Ok(UNKNOWN),
            _ => Err(DecodeError::Inconsistent(
                "an item's origin lies in collected content",
            )),
        }
    }

    fn intern(&mut self, parent: &NamedParent) -> ParentIndex {
        if let Some(&index) = self.interned.get(parent) {
            return index;
        }
        let index = ParentIndex(self.parents.len() as u32);
        self.parents.push(parent.clone());
        self.interned.insert(parent.clone(), index);
        index
    }

    /// The parent of `id` if the document holds it.
    fn find_in_document(&self, id: ItemId) -> Option<ParentIndex> {
        let (_, run) = self
            .clients
            .get(&id.client())?
            .range(..=id.clock())
            .next_back()?;
        (id.clock() < run.end).then_some(run.parent)
    }

    /// The update's block holding `id`, if the document does not hold it already.
    fn find_in_update(&self, id: ItemId, lookup: &UpdateLookup<'_>) -> Option<usize> {
        if self.find_in_document(id).is_some() {
            return None;
        }
        lookup.find(id)
    }
}

/// What an item's links say about its parent.
enum Derived<'a> {
    Known(ParentIndex),
    Named(&'a NamedParent),
    Disagreeing {
        left: ParentIndex,
        right: ParentIndex,
    },
}

fn derive(block: &ShapeBlock, parent_of: impl Fn(ItemId) -> ParentIndex) -> Derived<'_> {
    match (
        block.origin.map(&parent_of),
        block.right_origin.map(&parent_of),
    ) {
        (Some(left), Some(right)) if left != right => Derived::Disagreeing { left, right },
        (Some(known), _) | (None, Some(known)) => Derived::Known(known),
        (None, None) => match block.parent.as_deref() {
            // A nested type held by collected content is unknown to Yjs (it makes the item
            // garbage); yrs finds no type there either.
            Some(NamedParent {
                of: ParentType::Nested(holder),
                ..
            }) if parent_of(*holder) == UNKNOWN => Derived::Known(UNKNOWN),
            Some(named) => Derived::Named(named),
            // A garbage-collected range.
            None => Derived::Known(UNKNOWN),
        },
    }
}

/// Finds the block of an update holding an id: each client's blocks are contiguous and in clock
/// order (the walk refuses a client listed twice).
struct UpdateLookup<'a> {
    blocks: &'a [ShapeBlock],
    clients: HashMap<u64, (usize, usize)>,
}

impl<'a> UpdateLookup<'a> {
    fn new(blocks: &'a [ShapeBlock]) -> Self {
        let mut clients: HashMap<u64, (usize, usize)> = HashMap::new();
        for (index, block) in blocks.iter().enumerate() {
            clients
                .entry(block.client)
                .and_modify(|(_, end)| *end = index + 1)
                .or_insert((index, index + 1));
        }
        UpdateLookup { blocks, clients }
    }

    fn find(&self, id: ItemId) -> Option<usize> {
        let &(first, end) = self.clients.get(&id.client())?;
        let clock = id.clock();
        let candidates = &self.blocks[first..end];
        let after = candidates.partition_point(|block| block.start <= clock);
        let index = after.checked_sub(1)?;
        (clock < candidates[index].end).then_some(first + index)
    }
}

#[cfg(test)]
mod tests;
