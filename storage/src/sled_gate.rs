//! One process-wide gate between sled's batch writes and its flushes.
//!
//! sled 0.34 guards its trees with one reader-writer lock for the whole process
//! (`concurrency_control`), shared by every database open in it. `apply_batch` takes it
//! exclusively; `flush` holds it shared for as long as it waits for the log to reach the disk.
//! A batch that arrives during a flush parks as a waiting writer, and from then on the lock turns
//! new readers away too, sled's background log flusher among them. We have seen that end in a
//! deadlock: a compaction's flush waiting forever for the log to become stable, the writer thread
//! parked in `apply_batch`, and every sled log flusher parked before it could take its share.
//!
//! Taking this gate first (shared for a flush, exclusive for a batch) makes a batch wait *here*
//! while any flush of ours runs, where its waiting blocks nothing sled needs. It costs nothing a
//! batch did not already pay: sled's own lock made it wait for those flushes anyway. Like sled's
//! lock it is global, because two stores in one process (tests, `quire` tools) share sled's.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

static GATE: RwLock<()> = RwLock::new(());

/// Held across a sled flush: flushes run together, batches wait.
pub(crate) fn enter_flush() -> RwLockReadGuard<'static, ()> {
    // The gate guards no data, so a panic while it was held leaves nothing inconsistent.
    GATE.read().unwrap_or_else(PoisonError::into_inner)
}

/// Held across a sled `apply_batch`: it runs while no flush of ours does.
pub(crate) fn enter_batch() -> RwLockWriteGuard<'static, ()> {
    GATE.write().unwrap_or_else(PoisonError::into_inner)
}
