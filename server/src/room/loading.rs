//! Turning what the store loaded into a room.
//!
//! The snapshot goes in as one (see [`Room::handle_stored_snapshot`]): until the document
//! changes, a client syncing from nothing is sent it as it was stored. A snapshot with nothing
//! after it is not even applied yet (see [`Room::handle_stored_snapshot_unapplied`]): the first
//! joiner is answered from the stored bytes at once, and the room applies them only when
//! something needs the document. A damaged log is applied as far as it goes and marked for
//! compaction, so updates appended from now on follow an intact snapshot instead of hiding
//! behind the damaged record on the next load.

use std::sync::Arc;

use crdt_core::clock::{Clock, Timestamp};
use crdt_core::wire::FrameLimits;
use crdt_core::{ProtocolError, Room};
use storage::LoadedDoc;
use tracing::{error, info};

use super::document_log::DocumentLog;
use crate::telemetry;

/// The clock a room's awareness expiry reads: the system's, or a manual one in tests.
#[derive(Clone)]
pub(crate) struct RoomClock(pub(crate) Arc<dyn Clock>);

impl Clock for RoomClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// A room holding `loaded`, and its account of the stored log.
pub(crate) fn room_from_loaded(
    name: &str,
    loaded: &LoadedDoc,
    clock: &RoomClock,
    limits: FrameLimits,
) -> (Room, DocumentLog) {
    let mut room = Room::with_clock(clock.clone());
    room.set_frame_limits(limits);
    let applied = apply_loaded(&mut room, loaded);
    if let Some(corruption) = &loaded.corruption {
        metrics::counter!(telemetry::CORRUPT_RECORDS).increment(1);
        error!(
            room = name,
            %corruption,
            "stored document is damaged; serving it up to the last good record"
        );
    }
    let unapplied = applied.is_err();
    if let Err(error) = applied {
        error!(room = name, %error, "a stored record does not apply; serving what did");
    }
    if loaded.snapshot.is_some() || !loaded.updates.is_empty() {
        info!(
            room = name,
            updates = loaded.updates.len(),
            "document loaded"
        );
    }
    (room, DocumentLog::of_loaded(loaded, unapplied))
}

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
