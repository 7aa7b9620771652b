//! The messages a room task understands, and the types they carry.
//!
//! Connections talk to their room with `Join`, `Frame`, `Relay` and `Leave`; the HTTP API reads
//! and changes documents with `Read`, `Edit` and `Delete`, which run inside the room task so they
//! see and change the same document live clients edit, with the same durable-before-visible rule.
//!
//! A frame may carry a *receipt*: bytes the room queues to its sender, in order with the sender's
//! other frames, once everything the frame changed is durable. Protocols that acknowledge writes
//! (Hocuspocus's SyncStatus) build on it without the room knowing their wire format.

use bytes::Bytes;
use crdt_core::{Access, ConnectionId, ProtocolError, Room};
use tokio::sync::oneshot;

use crate::close_code;
use crate::frame_queue::FrameSender;

/// Why the room closes or refuses a connection.
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
    pub(crate) frames: FrameSender,
    pub(crate) close: oneshot::Sender<CloseReason>,
    /// Whether the connection wants frames relayed from others (see [`RoomCommand::Relay`]);
    /// only clients of the protocol that sends them understand them.
    pub(crate) receives_relays: bool,
}

impl ConnectionOutbox {
    /// An outbox over a connection's frame queue and close signal.
    pub fn new(frames: FrameSender, close: oneshot::Sender<CloseReason>) -> Self {
        ConnectionOutbox {
            frames,
            close,
            receives_relays: false,
        }
    }

    /// The same outbox, also receiving frames other connections relay.
    pub fn receiving_relays(mut self) -> Self {
        self.receives_relays = true;
        self
    }
}

/// A read of the document, run inside the room task.
pub type DocumentRead = Box<dyn FnOnce(&Room) + Send>;

/// A server-side change of the document, run inside the room task; true when it changed
/// anything.
pub type DocumentEdit = Box<dyn FnOnce(&mut Room) -> Result<bool, ProtocolError> + Send>;

/// Why a server-side change did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The change itself was refused (a malformed update, for example); nothing changed.
    #[error("{0}")]
    Rejected(#[source] ProtocolError),
    /// The change could not be made durable; the room was closed and it is not applied.
    #[error("storage failure: {0}")]
    Storage(String),
}

/// A command as it waits in a room's queue: boxed, so the queue's slots stay pointer-sized.
/// Tokio allocates a queue's first block of slots up front, and with the commands inline it
/// would cost every room (idle ones included) about 2.5 KB; one small allocation per command is
/// cheap next to handling it.
pub type QueuedCommand = Box<RoomCommand>;

/// What a room can be asked to do.
pub enum RoomCommand {
    /// A connection joins; its id (or why it was refused) is sent back on `joined`.
    Join {
        access: Access,
        outbox: ConnectionOutbox,
        joined: oneshot::Sender<Result<ConnectionId, CloseReason>>,
    },
    /// A frame arrived from a connection. `receipt`, if any, is queued to that connection once
    /// everything the frame changed is durable (not when the frame was refused).
    Frame {
        connection: ConnectionId,
        frame: Bytes,
        receipt: Option<Bytes>,
    },
    /// A frame the room does not interpret, for every other connection that receives relays,
    /// sent after the frames of the same batch (so after the sender's earlier updates).
    Relay {
        connection: ConnectionId,
        frame: Bytes,
    },
    /// A connection is gone.
    Leave { connection: ConnectionId },
    /// Read the document as it is now.
    Read(DocumentRead),
    /// Change the document; `done` hears once the change is durable and sent to clients.
    Edit {
        edit: DocumentEdit,
        done: oneshot::Sender<Result<bool, EditError>>,
    },
    /// Delete the document: close every client and remove it from storage; `done` hears whether
    /// it existed.
    Delete {
        done: oneshot::Sender<Result<bool, String>>,
    },
}
