//! A room's link to storage: loading its document, and compacting its log.
//!
//! Loading happens before the room answers anyone; a document stored as one snapshot is held
//! unapplied until something needs more than its stored bytes (see `apply_loaded`). A damaged
//! record stops the load at the last good one (the store reports it); the room then compacts at
//! once, so updates appended from now on follow an intact snapshot instead of hiding behind the
//! damaged record on the next load.

use std::sync::Arc;

use crdt_core::{ProtocolError, Room};
use storage::{AppendReceipt, DocStore, LoadedDoc, Seq, StoreError};
use tracing::{error, info, warn};

use crate::room_task::RoomContext;
use crate::telemetry;

/// Compact once this many updates follow the snapshot...
pub const COMPACT_AFTER_RECORDS: u64 = 1_000;
/// ...or once they hold this many bytes.
pub const COMPACT_AFTER_BYTES: u64 = 4 * 1024 * 1024;

/// Why a document could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store could not be read.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The blocking load task died.
    #[error("the load task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Where the room's document stands in its stored log.
pub(crate) struct DocumentLog {
    /// The last seq stored for the document; the room's state includes everything through it.
    last_seq: Seq,
    tail_records: u64,
    tail_bytes: u64,
    /// Size of the stored snapshot.
    snapshot_bytes: u64,
    /// The stored log could not be read whole: rewrite it from what was loaded.
    damaged: bool,
}

impl DocumentLog {
    /// Notes an append the room's updates made.
    pub(crate) fn record_append(&mut self, receipt: Option<AppendReceipt>) {
        if let Some(receipt) = receipt {
            self.last_seq = receipt.seq;
            self.tail_records = receipt.log_records;
            self.tail_bytes = receipt.log_bytes;
        }
    }

    /// What the document takes in storage: snapshot plus log.
    pub(crate) fn stored_bytes(&self) -> u64 {
        self.snapshot_bytes + self.tail_bytes
    }

    /// True when updates follow the snapshot.
    pub(crate) fn has_tail(&self) -> bool {
        self.tail_records > 0 || self.damaged
    }

    /// True when the log has grown past the compaction threshold, or is damaged.
    pub(crate) fn needs_compaction(&self) -> bool {
        self.damaged
            || self.tail_records >= COMPACT_AFTER_RECORDS
            || self.tail_bytes >= COMPACT_AFTER_BYTES
    }

    /// Replaces snapshot and log with one snapshot of `room`'s document. Every update through
    /// `last_seq` is in the room, so nothing is lost; a failure leaves the log as it was.
    pub(crate) async fn compact(&mut self, context: &RoomContext, room: &Room) {
        let snapshot = room.encode_state_as_update();
        let snapshot_bytes = snapshot.len() as u64;
        let store: Arc<dyn DocStore> = context.persistence.store().clone();
        let name = context.name.clone();
        let through = self.last_seq;
        let compacted = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let compacted = store.compact(&name, &snapshot, through);
            telemetry::record_storage("compact", started.elapsed());
            compacted
        })
        .await;
        match compacted {
            Ok(Ok(())) => {
                self.tail_records = 0;
                self.tail_bytes = 0;
                self.snapshot_bytes = snapshot_bytes;
                self.damaged = false;
            }
            Ok(Err(error)) => warn!(room = %context.name, %error, "compaction failed"),
            Err(error) => warn!(room = %context.name, %error, "compaction task failed"),
        }
    }
}

/// Loads the room's document from storage.
///
/// The records are read on a blocking thread (sled blocks) and applied here. Applying on the
/// blocking thread too was tried (W6): no faster on a loaded core, and the room's memory, freed
/// later by this task's thread, stayed with the blocking thread's allocator heap, so memory after
/// unload ended 25% above its baseline instead of below it.
pub(crate) async fn load_room(context: &RoomContext) -> Result<(Room, DocumentLog), LoadError> {
    let store = context.persistence.store().clone();
    let name = context.name.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let loaded = store.load(&name);
        telemetry::record_storage("load", started.elapsed());
        loaded
    })
    .await??;
    let mut room = Room::new();
    room.set_frame_limits(context.frame_limits);
    let applied = apply_loaded(&mut room, &loaded);
    let mut damaged = loaded.corruption.is_some();
    if let Some(corruption) = &loaded.corruption {
        metrics::counter!(telemetry::CORRUPT_RECORDS).increment(1);
        error!(
            room = %context.name,
            %corruption,
            "stored document is damaged; serving it up to the last good record"
        );
    }
    if let Err(error) = applied {
        error!(room = %context.name, %error, "a stored record does not apply; serving what did");
        damaged = true;
    }
    if loaded.snapshot.is_some() || !loaded.updates.is_empty() {
        info!(
            room = %context.name,
            updates = loaded.updates.len(),
            "document loaded"
        );
    }
    let tail_bytes = loaded
        .updates
        .iter()
        .map(|update| update.bytes.len() as u64)
        .sum();
    let log = DocumentLog {
        last_seq: loaded.last_seq,
        tail_records: loaded.updates.len() as u64,
        tail_bytes,
        snapshot_bytes: loaded
            .snapshot
            .as_ref()
            .map_or(0, |snapshot| snapshot.len() as u64),
        damaged,
    };
    Ok((room, log))
}

/// Applies what was loaded. The snapshot goes in as one (see [`Room::handle_stored_snapshot`]):
/// until the document changes, a client syncing from nothing is sent it as it was stored. A
/// snapshot with nothing after it is not even applied yet (see
/// [`Room::handle_stored_snapshot_unapplied`]): the first joiner is answered from the stored bytes
/// at once, and the room applies them only when something needs the document. A damaged log is
/// applied now, since it is compacted from the room's document at once anyway.
fn apply_loaded(room: &mut Room, loaded: &LoadedDoc) -> Result<(), ProtocolError> {
    if let Some(snapshot) = &loaded.snapshot {
        if loaded.updates.is_empty() && loaded.corruption.is_none() {
            return room.handle_stored_snapshot_unapplied(snapshot);
        }
        room.handle_stored_snapshot(snapshot)?;
    }
    for update in &loaded.updates {
        room.handle_stored_update(&update.bytes)?;
    }
    Ok(())
}
