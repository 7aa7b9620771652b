//! The room: one Yjs document and the connections editing it.
//!
//! A `Room` is a sans-IO state machine. The server calls `handle_*` with what happened (a client
//! joined, a frame arrived, a client left, time passed) and drains [`Outgoing`] effects with
//! [`Room::poll_outgoing`]. Effects come out in the order they must be carried out: a
//! [`Outgoing::Persist`] precedes the broadcast of the same update, so a server that stores before
//! it sends gets "durable before visible" for free.
//!
//! Every outgoing frame holds exactly one y-protocols message (see [`crate::wire`]) and a broadcast
//! is encoded once, as [`Bytes`] every recipient shares. So is the whole document a new client
//! is sent: encoded on the first request, shared until the document changes (see
//! [`crate::full_state`]).
//!
//! How each message is answered lives in `messages`. A room loaded from one stored snapshot may
//! hold it unapplied (see [`deferred_load`]):
//! joiners are answered from the stored bytes, the room's own SyncStep1 to them waits for
//! [`Room::handle_idle`], and whatever needs the document applies the snapshot first.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use bytes::Bytes;
use yrs::sync::{Awareness, Clock, Message, SyncMessage};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::clock::{SharedClock, SystemClock};
use crate::error::ProtocolError;
use crate::full_state::FullStateFrame;
use crate::item_parents::ParentCheck;
use crate::members::Members;
use crate::pending::{PendingState, decode_update};
use crate::presence::{Controller, Presence};
use crate::wire::{FrameLimits, decode_frame_within, encode_frame};

mod deferred_load;
mod messages;
mod peers;
mod waiting;
use deferred_load::DeferredLoad;
use messages::Arrival;
pub use peers::PeerId;
use waiting::Waiting;
pub use waiting::{MAX_WAITING_BYTES, MAX_WAITING_UPDATES};

pub use crate::presence::AWARENESS_TIMEOUT_MILLIS;

/// Why a read-only connection's update was refused, as sent in the y-protocols auth message.
pub const READ_ONLY_REASON: &str = "read-only connection: document updates are not accepted";

/// Identifies one connection within a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "connection-{}", self.0)
    }
}

/// What a connection may do to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Receives the document and may change it.
    ReadWrite,
    /// Receives the document and live updates, may share awareness, never changes the document.
    ReadOnly,
}

/// An effect the server must carry out, in the order they are polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Send `frame` to one connection.
    Reply { to: ConnectionId, frame: Bytes },
    /// Send `frame` to every connection except `except` (`None`: to all of them).
    Broadcast {
        except: Option<ConnectionId>,
        frame: Bytes,
    },
    /// A Yjs v1 update that reached the document; store it before sending what follows.
    Persist { update: Bytes },
    /// An awareness frame of this room's connections, for the peer servers sharing the document
    /// (only when [`Room::share_with_peers`] is on).
    ToPeers { frame: Bytes },
}

/// One document being edited, and who is editing it.
pub struct Room {
    awareness: Awareness,
    full_state: FullStateFrame,
    deferred: DeferredLoad,
    clock: SharedClock,
    presence: Presence,
    access: HashMap<ConnectionId, Access>,
    next_connection: u64,
    outgoing: VecDeque<Outgoing>,
    limits: FrameLimits,
    /// Updates from peers that arrived before what they build on.
    waiting: Waiting,
    /// Where each item belongs, to refuse items yrs and Yjs would place differently.
    item_parents: ParentCheck,
    /// Peer servers share the document: announce awareness to them ([`Outgoing::ToPeers`]).
    shares_with_peers: bool,
}

impl Drop for Room {
    fn drop(&mut self) {
        // The document itself, not `doc()`: a snapshot held unapplied holds no items.
        crate::subdocuments::release_subdocuments(self.awareness.doc());
    }
}

impl Default for Room {
    fn default() -> Self {
        Self::new()
    }
}

impl Room {
    /// An empty room on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// An empty room reading time from `clock` (awareness expiry).
    pub fn with_clock(clock: impl Clock + 'static) -> Self {
        let clock = SharedClock(std::sync::Arc::new(clock));
        let awareness = Awareness::with_clock(Doc::new(), clock.clone());
        Room {
            full_state: FullStateFrame::watching(awareness.doc()),
            awareness,
            deferred: DeferredLoad::default(),
            clock,
            presence: Presence::default(),
            access: HashMap::new(),
            next_connection: 0,
            outgoing: VecDeque::new(),
            limits: FrameLimits::default(),
            waiting: Waiting::default(),
            item_parents: ParentCheck::default(),
            shares_with_peers: false,
        }
    }

    /// Sets what a client's frame may carry (see [`FrameLimits`]).
    pub fn set_frame_limits(&mut self, limits: FrameLimits) {
        self.limits = limits;
    }

    /// The document this room holds (a snapshot held unapplied is applied first).
    pub fn doc(&self) -> &Doc {
        self.deferred.apply(self.awareness.doc(), &self.full_state);
        self.awareness.doc()
    }

    /// The awareness states this room tracks (and through them the document, so a snapshot held
    /// unapplied is applied first).
    pub fn awareness(&self) -> &Awareness {
        self.doc();
        &self.awareness
    }

    /// How many connections are in the room.
    pub fn connection_count(&self) -> usize {
        self.access.len()
    }

    /// Whether `connection` is in the room.
    pub fn has_connection(&self, connection: ConnectionId) -> bool {
        self.access.contains_key(&connection)
    }

    /// The connections in the room, in the order they joined.
    pub fn connection_ids(&self) -> Vec<ConnectionId> {
        let mut connections: Vec<ConnectionId> = self.access.keys().copied().collect();
        connections.sort_unstable();
        connections
    }

    /// The document's state vector.
    pub fn state_vector(&self) -> StateVector {
        self.doc().transact().state_vector()
    }

    /// The whole document as one Yjs v1 update (a snapshot).
    pub fn encode_state_as_update(&self) -> Vec<u8> {
        self.doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// The SyncStep2 frame a client with an empty state vector is sent: the whole document,
    /// encoded once (or, after [`Room::handle_stored_snapshot`], the snapshot as stored) and
    /// shared until the document changes.
    pub fn full_state_frame(&self) -> Bytes {
        match self.deferred.full_state_frame() {
            Some(snapshot) => snapshot,
            None => self.full_state.get(self.doc()),
        }
    }

    /// Applies an update read back from storage: nothing is persisted or sent.
    pub fn handle_stored_update(&mut self, update: &[u8]) -> Result<(), ProtocolError> {
        let applied = self.apply_update(update, Arrival::Store).map(|_| ());
        self.full_state.release_if_outdated();
        applied
    }

    /// Applies a stored snapshot (one Yjs v1 update of a whole document): nothing is persisted or
    /// sent. In an empty room the snapshot itself is what a client with an empty state vector
    /// is sent until the document changes: applied to an empty document it gives exactly the
    /// document the room now holds, so encoding that again would only delay the first sync after
    /// a load. In a room that holds something it is an ordinary stored update.
    pub fn handle_stored_snapshot(&mut self, snapshot: &[u8]) -> Result<(), ProtocolError> {
        let was_empty = {
            let transaction = self.doc().transact();
            transaction.state_vector().is_empty()
                && PendingState::of(&transaction) == PendingState::NONE
        };
        self.handle_stored_update(snapshot)?;
        if was_empty {
            let frame = encode_frame(&Message::Sync(SyncMessage::SyncStep2(snapshot.to_vec())));
            self.full_state.seed(self.doc(), frame);
        }
        Ok(())
    }

    /// Applies an update made on the server side (for example over HTTP): it is persisted and
    /// broadcast to every connection. Returns whether it carried anything.
    pub fn handle_local_update(&mut self, update: &[u8]) -> Result<bool, ProtocolError> {
        let applied = self.apply_and_encode(update, false, Arrival::Peer)?;
        self.full_state.release_if_outdated();
        let Some(applied) = applied else {
            return Ok(false);
        };
        self.queue_document_update(None, applied.unwrap_or_else(|| update.to_vec()));
        Ok(true)
    }

    /// Registers a new connection. A joining client is sent the current awareness states at
    /// once, so presence does not wait for the next 15 s renewal.
    pub fn handle_connect(&mut self, access: Access) -> ConnectionId {
        let connection = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.access.insert(connection, access);
        if let Some(states) = self.presence.current_states(&self.awareness) {
            self.reply(connection, &Message::Awareness(states));
        }
        connection
    }

    /// Handles one frame from `connection`: every message in it, in order. A frame that does not
    /// decode is refused whole; if a message fails to apply, the ones before it have taken
    /// effect. Either way the server should close the connection.
    pub fn handle_frame(
        &mut self,
        connection: ConnectionId,
        frame: &[u8],
    ) -> Result<(), ProtocolError> {
        let access = *self
            .access
            .get(&connection)
            .ok_or(ProtocolError::UnknownConnection(connection))?;
        let handled = decode_frame_within(frame, &self.limits)?
            .into_iter()
            .try_for_each(|message| self.handle_message(connection, access, message));
        self.full_state.release_if_outdated();
        if !self.deferred.is_pending() {
            // The frame needed the document, so a state vector costs nothing now.
            self.handle_idle();
        }
        handled
    }

    /// Whether `frame` would change the document: a SyncStep2 or Update bringing something the
    /// document lacks. A client that just synced answers the room's SyncStep1 with what it has,
    /// all of it here already: a server that must refuse edits (its storage takes no writes)
    /// tells such a reader from a writer with this. It costs a pass over the document's
    /// deletions, so it is for that case, not for every frame. A frame that does not decode
    /// counts as changing it (it is refused either way).
    pub fn frame_changes_document(&self, frame: &[u8]) -> bool {
        let Ok(messages) = decode_frame_within(frame, &self.limits) else {
            return true;
        };
        let transaction = self.doc().transact();
        let state_vector = transaction.state_vector();
        let mut deletions = None;
        messages.iter().any(|message| match message {
            Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) => {
                let Ok(update) = decode_update(update) else {
                    return true;
                };
                let deletions = deletions.get_or_insert_with(|| transaction.snapshot().delete_set);
                !deferred_load::covers(&state_vector, deletions, &update)
            }
            _ => false,
        })
    }

    /// Removes `connection`; the awareness states it controlled are removed and their removal is
    /// broadcast to the others.
    pub fn handle_disconnect(&mut self, connection: ConnectionId) {
        if self.access.remove(&connection).is_none() {
            return;
        }
        self.waiting.forget(connection);
        let controller = Controller::Connection(connection);
        if let Some(removal) = self.presence.release(controller, &mut self.awareness) {
            let frame = encode_frame(&Message::Awareness(removal));
            self.announce_to_peers(frame.clone());
            self.broadcast_frame(None, frame);
        }
    }

    /// Lets time pass: awareness states not renewed for [`AWARENESS_TIMEOUT_MILLIS`] expire and
    /// their removal is broadcast, as y-protocols clients do among themselves. Joiners still owed
    /// the room's SyncStep1 get it now, so a room too busy to be idle owes it no longer than a tick.
    pub fn handle_tick(&mut self) {
        let now = self.clock.now();
        if let Some(removal) = self.presence.expire(&mut self.awareness, now) {
            self.broadcast(None, &Message::Awareness(removal));
        }
        self.handle_idle();
    }

    /// The next effect to carry out, if any.
    pub fn poll_outgoing(&mut self) -> Option<Outgoing> {
        self.outgoing.pop_front()
    }

    /// Makes the document's content equal a stored version's: `version_state` is the version as
    /// one Yjs v1 update of the whole document (what [`Room::encode_state_as_update`] gave when
    /// it was taken). The change is made as new edits in one transaction (see
    /// [`crate::restore`]), not by rewinding history, so clients merge it like any edit. Its
    /// update is persisted and broadcast to every connection. Returns whether anything changed;
    /// restoring what the document already holds queues nothing.
    ///
    /// Restoring walks both documents recursively, so either nesting shared types deeper than
    /// [`crate::export::MAX_JSON_DEPTH`] is refused with [`ProtocolError::TooDeep`], changing
    /// nothing: a client can nest them 50,000 deep, and a stack overflow aborts the process.
    pub fn handle_restore(&mut self, version_state: &[u8]) -> Result<bool, ProtocolError> {
        let version = Doc::new();
        version
            .transact_mut()
            .apply_update(decode_update(version_state)?)
            .map_err(ProtocolError::UpdateRejected)?;
        let limit = crate::export::MAX_JSON_DEPTH;
        if crate::export::any_root_deeper_than(&version.transact(), limit)
            || crate::export::any_root_deeper_than(&self.doc().transact(), limit)
        {
            return Err(ProtocolError::TooDeep { limit });
        }
        self.item_parents.forget();
        let update = {
            let mut transaction = self.doc().transact_mut();
            crate::restore::restore_into(&mut transaction, &version);
            // Encoded after commit, as yrs's own update observers see it: commit may still
            // change what the update must say (formatting cleanup, on documents that enable it,
            // and garbage collection of content deleted in this very transaction).
            transaction.commit();
            if !transaction.has_changes() {
                return Ok(false);
            }
            transaction.encode_update_v1()
        };
        self.full_state.release_if_outdated();
        self.queue_document_update(None, update);
        Ok(true)
    }

    /// Who is connected, if the room can be let go of with them staying connected: no awareness
    /// state is live (those live only here) and no effect is waiting to be carried out.
    pub fn members_if_idle(&self) -> Option<Members> {
        if !self.outgoing.is_empty()
            || self.has_idle_work()
            || !self.waiting.is_empty()
            || self.presence.current_states(&self.awareness).is_some()
        {
            return None;
        }
        let mut access: Vec<_> = self
            .access
            .iter()
            .map(|(id, access)| (*id, *access))
            .collect();
        access.sort_unstable_by_key(|(id, _)| *id);
        Some(Members {
            access,
            next_connection: self.next_connection,
        })
    }

    /// Takes back `members` (from [`Room::members_if_idle`] of this room's previous life) into a
    /// freshly loaded room: same ids, same access, nothing sent, since they are already synced.
    pub fn handle_resume(&mut self, members: Members) {
        self.next_connection = self.next_connection.max(members.next_connection);
        self.access.extend(members.access);
    }
}

#[cfg(test)]
mod tests;
