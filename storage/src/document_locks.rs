//! Per-document mutual exclusion for the sled store.
//!
//! A write to a document is read-modify-write (read the entry, pick the next
//! seq, write record and entry in one batch), and a load reads the entry,
//! snapshot and log in several steps. Holding the document's lock across each
//! operation keeps concurrent appends from reusing a seq and keeps a load from
//! seeing a snapshot from before a compaction with a log from after it.
//!
//! Locks are striped (a fixed array indexed by a hash of the id) so memory
//! stays bounded however many documents exist; two documents sharing a stripe
//! merely wait for each other briefly. sled's exclusive file lock already
//! guarantees no other process writes, so in-process locks suffice.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Enough stripes that unrelated hot documents rarely contend.
const STRIPE_COUNT: usize = 64;

pub(crate) struct DocumentLocks {
    stripes: Vec<Mutex<()>>,
}

impl DocumentLocks {
    pub fn new() -> Self {
        DocumentLocks {
            stripes: (0..STRIPE_COUNT).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Blocks until this thread holds `doc`'s stripe.
    pub fn lock(&self, doc: &str) -> MutexGuard<'_, ()> {
        self.lock_stripe(stripe_of(doc))
    }

    /// Blocks until this thread holds the stripes of every document in
    /// `docs`. Taken in stripe order, each once: every other holder takes one
    /// stripe at a time, so two callers can never wait for each other in a
    /// circle.
    pub fn lock_many<'a>(
        &self,
        docs: impl IntoIterator<Item = &'a str>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let stripes: BTreeSet<usize> = docs.into_iter().map(stripe_of).collect();
        stripes
            .into_iter()
            .map(|stripe| self.lock_stripe(stripe))
            .collect()
    }

    fn lock_stripe(&self, stripe: usize) -> MutexGuard<'_, ()> {
        // The mutex guards no data, only exclusion; a panic in another
        // holder leaves nothing half-updated in it, so poisoning is ignored.
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn stripe_of(doc: &str) -> usize {
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(doc);
    (hash % STRIPE_COUNT as u64) as usize
}
