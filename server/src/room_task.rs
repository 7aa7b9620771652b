//! The task that owns one room: the only place its document is read or written.
//!
//! Commands arrive on a bounded queue and are handled in batches: every command already waiting
//! is fed to the sans-IO [`Room`] before the resulting effects are carried out, so one pass over
//! the effects serves many edits. Frames are pushed to each connection's bounded queue without
//! waiting; a connection whose queue is full is disconnected with [`close_code::SLOW_CONSUMER`]
//! so its client reconnects and resyncs; an update is never dropped silently.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use crdt_core::{Access, ConnectionId, Outgoing, Room};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::close_code;
use crate::rooms::RoomRegistry;

/// Most commands handled before effects are carried out, bounding the latency a batch adds.
const MAX_BATCH_COMMANDS: usize = 64;

/// How often awareness states are checked for expiry (y-protocols checks every 3 s).
const AWARENESS_CHECK_INTERVAL: Duration = Duration::from_secs(3);

/// Why the room closes a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// WebSocket close code, from [`close_code`].
    pub code: u16,
    /// Human-readable reason, at most 123 bytes.
    pub reason: String,
}

impl CloseReason {
    /// A close with `code` and `reason` (cut to fit a close frame).
    pub fn new(code: u16, reason: &str) -> Self {
        CloseReason {
            code,
            reason: close_code::truncate_reason(reason),
        }
    }
}

/// Where a room sends a connection's frames, and how it asks for the connection to close.
pub struct ConnectionOutbox {
    frames: mpsc::Sender<Bytes>,
    close: oneshot::Sender<CloseReason>,
}

impl ConnectionOutbox {
    /// An outbox over a connection's frame queue and close signal.
    pub fn new(frames: mpsc::Sender<Bytes>, close: oneshot::Sender<CloseReason>) -> Self {
        ConnectionOutbox { frames, close }
    }
}

/// What a room can be asked to do.
pub enum RoomCommand {
    /// A connection joins; its id is sent back on `joined`.
    Join {
        access: Access,
        outbox: ConnectionOutbox,
        joined: oneshot::Sender<ConnectionId>,
    },
    /// A frame arrived from a connection.
    Frame {
        connection: ConnectionId,
        frame: Bytes,
    },
    /// A connection is gone.
    Leave { connection: ConnectionId },
}

/// Runs room `name` until its last connection leaves and nothing is waiting for it.
pub(crate) async fn run_room(
    name: String,
    generation: u64,
    mut commands: mpsc::Receiver<RoomCommand>,
    registry: RoomRegistry,
) {
    let mut owner = RoomOwner {
        room: Room::new(),
        outboxes: HashMap::new(),
        closing: Vec::new(),
    };
    let mut awareness_check = tokio::time::interval(AWARENESS_CHECK_INTERVAL);
    awareness_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(MAX_BATCH_COMMANDS);
    loop {
        tokio::select! {
            received = commands.recv_many(&mut batch, MAX_BATCH_COMMANDS) => {
                if received == 0 {
                    break;
                }
                for command in batch.drain(..) {
                    owner.handle_command(command);
                }
            }
            _ = awareness_check.tick() => owner.room.handle_tick(),
        }
        owner.carry_out_effects();
        if owner.outboxes.is_empty() && registry.retire(&name, generation, &mut commands) {
            break;
        }
    }
    debug!(room = %name, "room released from memory");
}

/// The room and the connections it sends to.
struct RoomOwner {
    room: Room,
    outboxes: HashMap<ConnectionId, ConnectionOutbox>,
    /// Connections to close once the current effects are carried out.
    closing: Vec<(ConnectionId, CloseReason)>,
}

impl RoomOwner {
    fn handle_command(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join {
                access,
                outbox,
                joined,
            } => {
                let connection = self.room.handle_connect(access);
                if joined.send(connection).is_ok() {
                    self.outboxes.insert(connection, outbox);
                } else {
                    self.room.handle_disconnect(connection);
                }
            }
            RoomCommand::Frame { connection, frame } => {
                if !self.outboxes.contains_key(&connection) {
                    return;
                }
                if let Err(error) = self.room.handle_frame(connection, &frame) {
                    warn!(%connection, %error, "closing connection after a malformed frame");
                    let reason = CloseReason::new(close_code::MALFORMED, &error.to_string());
                    self.closing.push((connection, reason));
                }
            }
            RoomCommand::Leave { connection } => {
                if self.outboxes.remove(&connection).is_some() {
                    self.room.handle_disconnect(connection);
                }
            }
        }
    }

    /// Sends every pending effect, closing connections that fell behind; their departure
    /// produces effects of its own (awareness removal), so this runs until quiet.
    fn carry_out_effects(&mut self) {
        loop {
            while let Some(effect) = self.room.poll_outgoing() {
                match effect {
                    Outgoing::Reply { to, frame } => self.deliver(to, frame),
                    Outgoing::Broadcast { except, frame } => {
                        let recipients: Vec<ConnectionId> = self
                            .outboxes
                            .keys()
                            .copied()
                            .filter(|connection| Some(*connection) != except)
                            .collect();
                        for connection in recipients {
                            self.deliver(connection, frame.clone());
                        }
                    }
                    Outgoing::Persist { update: _ } => {}
                }
            }
            if self.closing.is_empty() {
                return;
            }
            for (connection, reason) in std::mem::take(&mut self.closing) {
                if let Some(outbox) = self.outboxes.remove(&connection) {
                    let _ = outbox.close.send(reason);
                    self.room.handle_disconnect(connection);
                }
            }
        }
    }

    fn deliver(&mut self, connection: ConnectionId, frame: Bytes) {
        let Some(outbox) = self.outboxes.get(&connection) else {
            return;
        };
        // A connection being closed gets nothing more: after a gap it must resync, not go on.
        if self
            .closing
            .iter()
            .any(|(closing, _)| *closing == connection)
        {
            return;
        }
        match outbox.frames.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                warn!(%connection, "disconnecting a client that fell behind");
                let reason = CloseReason::new(
                    close_code::SLOW_CONSUMER,
                    "too far behind: reconnect to resync",
                );
                self.closing.push((connection, reason));
            }
            // The connection is on its way out; its Leave command follows.
            Err(TrySendError::Closed(_)) => {}
        }
    }
}
