//! The room's whole document, encoded once as a SyncStep2 frame and shared by every joiner.
//!
//! A new client's SyncStep1 carries an empty state vector, and the answer is the whole document:
//! hundreds of kilobytes for a long-edited one, and as much encoding work. When many clients join
//! a room at once (a class starting, a server restart) every one of them asks the same question,
//! so the answer is encoded on the first request and handed out as shared [`Bytes`] until the
//! document changes.
//!
//! A room loaded from a stored snapshot starts with the snapshot itself as the frame's update:
//! the room's document is by construction what applying it to an empty document gives, so any
//! client applying it ends up with the same document, and the first sync after a cold load skips
//! encoding. Otherwise the frame is byte for byte a fresh encoding.
//!
//! Invalidation does not trust the room to remember every path that writes: a transaction
//! observer on the document counts every committed transaction that inserted or deleted
//! anything, whoever opened it, and a frame encoded at an older count is not handed out. A transaction that changed nothing (a reconnecting client's
//! SyncStep2 repeating what the room holds) keeps it, which is what makes a join storm of real
//! y-websocket clients, each answering the room's SyncStep1, cheap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use yrs::sync::{Message, SyncMessage};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::wire::encode_frame;

/// Names the observer on the document, so it can be told apart from others.
const OBSERVER_KEY: &str = "quire-full-state-frame";

/// The cached SyncStep2 frame of a whole document.
pub(crate) struct FullStateFrame {
    /// Counts the document's changing transactions; the observer is all that writes it.
    changes: Arc<AtomicU64>,
    /// The frame, and the change count it was encoded at.
    cached: Mutex<Option<(u64, Bytes)>>,
    /// False when the observer could not be registered: every request then encodes afresh.
    watching: bool,
}

impl FullStateFrame {
    /// A cache for `doc`, outdated by any change to it from now on.
    pub(crate) fn watching(doc: &Doc) -> Self {
        let changes = Arc::new(AtomicU64::new(0));
        let counter = changes.clone();
        let watching = doc
            .observe_after_transaction(OBSERVER_KEY, move |transaction| {
                if transaction.has_changes() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .is_ok();
        FullStateFrame {
            changes,
            cached: Mutex::new(None),
            watching,
        }
    }

    /// The SyncStep2 frame holding all of `doc` (the document this cache watches), encoded now
    /// or earlier if nothing changed since.
    pub(crate) fn get(&self, doc: &Doc) -> Bytes {
        // No transaction can commit while this one reads, so the count read under it is the
        // count of the document it encodes. The observer never takes the lock below: no cycle.
        let transaction = doc.transact();
        if !self.watching {
            return encode(&transaction);
        }
        let changes = self.changes.load(Ordering::Relaxed);
        let mut cached = lock(&self.cached);
        if let Some((encoded_at, frame)) = cached.as_ref()
            && *encoded_at == changes
        {
            return frame.clone();
        }
        let frame = encode(&transaction);
        *cached = Some((changes, frame.clone()));
        frame
    }

    /// Hands out `frame` until `doc` next changes: a SyncStep2 whose update, applied to an empty
    /// document, gives exactly `doc` (the stored snapshot `doc` was just loaded from).
    pub(crate) fn seed(&self, doc: &Doc, frame: Bytes) {
        let _transaction = doc.transact();
        if self.watching {
            *lock(&self.cached) = Some((self.changes.load(Ordering::Relaxed), frame));
        }
    }

    /// Lets go of a frame the document has changed since, so an edited room does not hold an
    /// outdated copy of its document until the next client joins.
    pub(crate) fn release_if_outdated(&self) {
        let changes = self.changes.load(Ordering::Relaxed);
        let mut cached = lock(&self.cached);
        if cached
            .as_ref()
            .is_some_and(|(encoded_at, _)| *encoded_at != changes)
        {
            *cached = None;
        }
    }
}

/// The document's difference to an empty state vector as one SyncStep2 frame. Like every
/// SyncStep2 the room sends, it leaves out updates still waiting for a missing dependency.
fn encode(transaction: &impl ReadTxn) -> Bytes {
    let update = transaction.encode_diff_v1(&StateVector::default());
    encode_frame(&Message::Sync(SyncMessage::SyncStep2(update)))
}

fn lock(slot: &Mutex<Option<(u64, Bytes)>>) -> MutexGuard<'_, Option<(u64, Bytes)>> {
    // The slot holds no invariant a panicking holder could break halfway.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}
