//! What a room can be asked, as named commands, and the types they carry.
//!
//! Connections talk to their room with [`Join`], [`Frame`], [`Relay`] and [`Leave`]. The HTTP API
//! reads and changes documents with [`Export`], [`ApplyUpdate`], [`Restore`], [`CreateVersion`]
//! and [`Delete`]: each is a plain value with its own reply channel, handled by the room's owner
//! in order with the connections' frames, under the same durable-before-visible rule. No closure
//! crosses into a room, so every command can be logged, tested and reasoned about by its name.
//!
//! A frame may carry a *receipt*: bytes the room queues to its sender, in order with the sender's
//! other frames, once everything the frame changed is durable. Protocols that acknowledge writes
//! (Hocuspocus's SyncStatus) build on it without the room knowing their wire format.

use crate::cluster::PeerEvent;
use bytes::Bytes;
use crdt_core::{Access, ConnectionId, ProtocolError};
use storage::VersionMeta;
use tokio::sync::oneshot;

pub use super::export::{ExportError, ExportRequest, Exported};
use super::frame_queue::FrameSender;
use crate::close_code;

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
    /// Whether the connection wants frames relayed from others (see [`Relay`]); only clients of
    /// the protocol that sends them understand them.
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

/// A connection joins; its id (or why it was refused) is sent back on `joined`.
pub struct Join {
    pub access: Access,
    pub outbox: ConnectionOutbox,
    pub joined: oneshot::Sender<Result<ConnectionId, CloseReason>>,
}

/// A frame arrived from a connection. `receipt`, if any, is queued to that connection once
/// everything the frame changed is durable (not when the frame was refused).
pub struct Frame {
    pub connection: ConnectionId,
    pub frame: Bytes,
    pub receipt: Option<Bytes>,
}

/// A frame the room does not interpret, for every other connection that receives relays, sent
/// after the frames of the same batch (so after the sender's earlier updates).
pub struct Relay {
    pub connection: ConnectionId,
    pub frame: Bytes,
}

/// A connection is gone.
pub struct Leave {
    pub connection: ConnectionId,
}

/// Read the document as it is, durably.
pub struct Export {
    pub request: ExportRequest,
    pub reply: oneshot::Sender<Result<Exported, ExportError>>,
}

/// Apply a Yjs v1 update made on the server side; `reply` hears once it is durable and sent to
/// the room's clients, with whether it changed anything.
pub struct ApplyUpdate {
    pub update: Vec<u8>,
    pub reply: oneshot::Sender<Result<bool, EditError>>,
}

/// Make the document's content equal a stored version's (`content`, one Yjs v1 update of the
/// whole document), as new edits; `reply` as for [`ApplyUpdate`].
pub struct Restore {
    pub content: Vec<u8>,
    pub reply: oneshot::Sender<Result<bool, EditError>>,
}

/// Keep the document's current state as a new named version.
pub struct CreateVersion {
    pub label: String,
    pub reply: oneshot::Sender<Result<VersionMeta, VersionError>>,
}

/// Delete the document: close every client (4410) and remove it from storage; `reply` hears
/// whether it existed.
pub struct Delete {
    pub reply: oneshot::Sender<Result<bool, String>>,
}

/// Why a server-side change did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The change itself was refused (a malformed update, for example); nothing changed.
    #[error("{0}")]
    Rejected(#[source] ProtocolError),
    /// The change could not be made durable; it is not known to be applied.
    #[error("storage failure: {0}")]
    Storage(String),
    /// Storage takes no writes now (see `storage_health`); nothing was applied.
    #[error("{0}")]
    StorageUnavailable(String),
}

/// Why a version could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// The store refused it (an invalid label, for one).
    #[error(transparent)]
    Store(#[from] storage::StoreError),
    /// The store could not be reached, or the document could not be loaded.
    #[error("{0}")]
    Unavailable(String),
}

/// Everything a room can be asked.
pub enum RoomCommand {
    Join(Join),
    Frame(Frame),
    Relay(Relay),
    Leave(Leave),
    Export(Export),
    ApplyUpdate(ApplyUpdate),
    Restore(Restore),
    CreateVersion(CreateVersion),
    Delete(Delete),
    /// Something from the other nodes sharing the document (through the room's subscription,
    /// never through its command queue, but stashed like a command while the document loads).
    Peer(PeerEvent),
}

impl RoomCommand {
    /// The bytes of document content or protocol payload the command carries: what handling it
    /// costs grows with them (see [`super::heavy_lane`]).
    pub(crate) fn payload_bytes(&self) -> usize {
        match self {
            RoomCommand::Frame(frame) => frame.frame.len(),
            RoomCommand::Relay(relay) => relay.frame.len(),
            RoomCommand::ApplyUpdate(apply) => apply.update.len(),
            RoomCommand::Restore(restore) => restore.content.len(),
            RoomCommand::Join(_)
            | RoomCommand::Leave(_)
            | RoomCommand::Export(_)
            | RoomCommand::CreateVersion(_)
            | RoomCommand::Delete(_)
            | RoomCommand::Peer(_) => 0,
        }
    }

    /// Whether a room that has left the registry still owes it an answer: reads and changes of
    /// the document are served with the document at hand; joins go to a fresh room instead.
    pub(crate) fn is_owed_after_retiring(&self) -> bool {
        matches!(
            self,
            RoomCommand::Export(_)
                | RoomCommand::ApplyUpdate(_)
                | RoomCommand::Restore(_)
                | RoomCommand::CreateVersion(_)
        )
    }

    /// Answers a command the room will never handle, so its sender is not left waiting. Joins
    /// are refused with `reason`; frames, relays and departures need no answer.
    pub(crate) fn refuse(self, reason: &CloseReason) {
        match self {
            RoomCommand::Join(join) => {
                let _ = join.joined.send(Err(reason.clone()));
            }
            RoomCommand::Export(export) => {
                let _ = export
                    .reply
                    .send(Err(ExportError::Unavailable(reason.reason.clone())));
            }
            RoomCommand::ApplyUpdate(ApplyUpdate { reply, .. })
            | RoomCommand::Restore(Restore { reply, .. }) => {
                let _ = reply.send(Err(EditError::Storage(reason.reason.clone())));
            }
            RoomCommand::CreateVersion(create) => {
                let _ = create
                    .reply
                    .send(Err(VersionError::Unavailable(reason.reason.clone())));
            }
            RoomCommand::Delete(delete) => {
                let _ = delete.reply.send(Err(reason.reason.clone()));
            }
            RoomCommand::Frame(_)
            | RoomCommand::Relay(_)
            | RoomCommand::Leave(_)
            | RoomCommand::Peer(_) => {}
        }
    }
}

/// A command as it waits in a room's queue: boxed, so the queue's slots stay pointer-sized.
/// Tokio allocates a queue's first block of slots up front, and with the commands inline it
/// would cost every room (idle ones included) about 2.5 KB; one small allocation per command is
/// cheap next to handling it.
pub type QueuedCommand = Box<RoomCommand>;
