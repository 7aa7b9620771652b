//! Peer servers: other servers holding the same document, each with clients of its own.
//!
//! When several servers share a document (a cluster), each one's room must show its clients what
//! the others' clients do. A peer's updates are already stored (a peer publishes only what its
//! store made durable), so they are applied and broadcast here but never persisted again. A
//! peer's awareness states are kept like a connection's, under the peer's id, so they vanish at
//! once when the peer is known to be gone, rather than after the 30 s expiry; and this room's own
//! connections' awareness is handed out as [`Outgoing::ToPeers`] frames for the peers.
//!
//! Peer updates are trusted the way stored ones are: the peer checked them as this room checks
//! its clients'. One that builds on what this room lacks (a peer's message missed) is applied
//! anyway and waits inside yrs for what it builds on, which the server reads from the store.

use bytes::Bytes;
use yrs::sync::Message;

use super::messages::Arrival;
use super::{Outgoing, Room};
use crate::error::ProtocolError;
use crate::pending::decode_update_with_shape;
use crate::presence::Controller;
use crate::wire::{decode_frame_within, encode_frame, encode_update_frame};

/// Identifies a peer server, as the caller numbers them (a node id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u128);

impl Room {
    /// Whether peer servers share the document: when on, awareness from this room's connections
    /// is also queued as [`Outgoing::ToPeers`].
    pub fn share_with_peers(&mut self, on: bool) {
        self.shares_with_peers = on;
    }

    /// Applies an update a peer server stored: broadcast to every connection, not persisted.
    /// Returns whether it told the document anything new.
    pub fn handle_peer_update(&mut self, update: &[u8]) -> Result<bool, ProtocolError> {
        let (_, shape) = decode_update_with_shape(update)?;
        // What builds on what the room holds is checked and indexed like a client's update, so
        // the room's index of item parents stays whole; what does not waits inside yrs.
        let arrival = if shape.is_satisfied_by(&self.state_vector()) {
            Arrival::Server
        } else {
            Arrival::Store
        };
        let applied = match self.apply_and_encode(update, false, arrival) {
            // The item-parent check refused what the peer's own room admitted (its index saw a
            // different history): stored already, it is applied as stored updates are, so the
            // nodes' documents do not part ways.
            Err(ProtocolError::Invalid(_)) if arrival == Arrival::Server => {
                self.apply_and_encode(update, false, Arrival::Store)?
            }
            applied => applied?,
        };
        self.full_state.release_if_outdated();
        let Some(applied) = applied else {
            return Ok(false);
        };
        let frame = match applied {
            Some(exactly_applied) => encode_update_frame(&exactly_applied),
            None => encode_update_frame(update),
        };
        self.broadcast_frame(None, frame);
        Ok(true)
    }

    /// Applies an awareness frame (a y-protocols awareness message, as a room sends it) from
    /// `peer`'s clients: their states are shown to every connection until the peer renews,
    /// removes or loses them. A frame that is not an awareness message is refused.
    pub fn handle_peer_awareness(
        &mut self,
        peer: PeerId,
        frame: &[u8],
    ) -> Result<(), ProtocolError> {
        let mut messages = decode_frame_within(frame, &self.limits)?.into_iter();
        let (Some(Message::Awareness(update)), None) = (messages.next(), messages.next()) else {
            return Err(ProtocolError::NotAwareness);
        };
        let applied = self
            .presence
            .apply(Controller::Peer(peer), &mut self.awareness, update);
        if applied.changed {
            self.broadcast_frame(None, Bytes::copy_from_slice(frame));
        }
        Ok(())
    }

    /// `peer` is gone (it stopped, or was found dead): the states its clients announced are
    /// removed, and their removal broadcast.
    pub fn handle_peer_gone(&mut self, peer: PeerId) {
        if let Some(removal) = self
            .presence
            .release(Controller::Peer(peer), &mut self.awareness)
        {
            self.broadcast(None, &Message::Awareness(removal));
        }
    }

    /// The awareness states of this room's own connections as one frame, for a peer that just
    /// opened the document; `None` when there is none.
    pub fn awareness_for_peers(&self) -> Option<Bytes> {
        self.presence
            .connection_states(&self.awareness)
            .map(|states| encode_frame(&Message::Awareness(states)))
    }

    /// Queues `frame` for the peers.
    pub(super) fn announce_to_peers(&mut self, frame: Bytes) {
        if self.shares_with_peers {
            self.outgoing.push_back(Outgoing::ToPeers { frame });
        }
    }
}

#[cfg(test)]
#[path = "peers_tests.rs"]
mod tests;
