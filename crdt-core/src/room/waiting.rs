//! Updates from peers that arrived before what they build on.
//!
//! A client that reconnects with offline edits and types at once sends its new edit before the
//! SyncStep2 that carries the offline ones: the edit builds on content the room does not hold
//! yet. yrs would keep such an update *pending* inside the document and merge it with whatever
//! arrives next; that merge is where yrs breaks on crafted input (the same ids sent twice with
//! different content wrap its length arithmetic and poison the document, in memory and in
//! storage). So the room holds such updates here instead, outside yrs, and applies each one once
//! the document has everything it builds on ([`UpdateShape::is_satisfied_by`]); what yrs then
//! finds already there it skips as a duplicate, whatever the bytes claimed.
//!
//! Bounded per room; a connection's waiting updates go with it (it sends them again when it
//! reconnects).

use std::collections::VecDeque;

use yrs::StateVector;

use super::ConnectionId;
use crate::error::ProtocolError;
use crate::untrusted::UpdateShape;

/// Most bytes of updates a room holds waiting...
pub const MAX_WAITING_BYTES: usize = 8 * 1024 * 1024;
/// ...and most updates.
pub const MAX_WAITING_UPDATES: usize = 256;

/// One update waiting for what it builds on.
#[derive(Debug)]
pub(crate) struct WaitingUpdate {
    pub(crate) from: ConnectionId,
    /// Whether it came as a SyncStep2 (stored and forwarded as what it applied).
    pub(crate) sync_step2: bool,
    pub(crate) bytes: Vec<u8>,
    shape: UpdateShape,
}

/// The updates a room holds waiting, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    updates: VecDeque<WaitingUpdate>,
    bytes: usize,
}

impl Waiting {
    /// Holds `bytes` from `from` until the document has what `shape` builds on.
    pub(crate) fn hold(
        &mut self,
        from: ConnectionId,
        sync_step2: bool,
        bytes: Vec<u8>,
        shape: UpdateShape,
    ) -> Result<(), ProtocolError> {
        if self.updates.len() >= MAX_WAITING_UPDATES || self.bytes + bytes.len() > MAX_WAITING_BYTES
        {
            return Err(ProtocolError::MissingDependencies);
        }
        self.bytes += bytes.len();
        self.updates.push_back(WaitingUpdate {
            from,
            sync_step2,
            bytes,
            shape,
        });
        Ok(())
    }

    /// The oldest update the document at `state` now has everything for, taken out.
    pub(crate) fn take_ready(&mut self, state: &StateVector) -> Option<WaitingUpdate> {
        let index = self
            .updates
            .iter()
            .position(|update| update.shape.is_satisfied_by(state))?;
        let update = self.updates.remove(index)?;
        self.bytes -= update.bytes.len();
        Some(update)
    }

    /// Drops what `connection` sent; it sends it again when it reconnects.
    pub(crate) fn forget(&mut self, connection: ConnectionId) {
        self.updates.retain(|update| update.from != connection);
        self.bytes = self.updates.iter().map(|update| update.bytes.len()).sum();
    }

    /// True when nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }
}
