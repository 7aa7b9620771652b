//! What a room's owner decides, for its task to carry out.
//!
//! The owner ([`super::owner`]) never touches a socket, a queue or the store: it emits these
//! effects, in the order they must happen, and hears back through its `handle_*` methods. The
//! task ([`super::task`]) carries them out and nothing else, which is what lets the rules below
//! be unit-tested without sockets: an effect that shows something to a client never leaves the
//! owner before the updates it depends on are durable.

use bytes::Bytes;
use crdt_core::ConnectionId;
use storage::{Seq, VersionMeta};
use tokio::sync::oneshot;

use crate::cluster::Announcement;

use super::command::{
    CloseReason, ConnectionOutbox, EditError, ExportError, Exported, Join, RoomCommand,
    VersionError,
};

/// Identifies one persist the owner asked for; persists complete in the order they were asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BatchId(pub(crate) u64);

/// One thing for the task to do.
pub(crate) enum Effect {
    /// Load the document from storage; answer with `handle_loaded`.
    Load,
    /// Append `updates` to the document's log and wait until they are durable; answer with
    /// `handle_persisted(batch, ..)`. Usually one update: a batch's updates merged.
    Persist { batch: BatchId, updates: Vec<Bytes> },
    /// A joiner is in: keep `outbox` under `connection`, then tell the joiner its id.
    Admit {
        connection: ConnectionId,
        outbox: ConnectionOutbox,
        joined: oneshot::Sender<Result<ConnectionId, CloseReason>>,
    },
    /// Send `frame` to one connection (if its queue is full: `handle_undeliverable`).
    Send { to: ConnectionId, frame: Bytes },
    /// Send `frame` to every connection except `except`.
    Broadcast {
        except: Option<ConnectionId>,
        frame: Bytes,
    },
    /// Send `frame` to every connection that receives relays, except `from`.
    Relay { from: ConnectionId, frame: Bytes },
    /// Close `connection` with `reason`; it is sent nothing more.
    Close {
        connection: ConnectionId,
        reason: CloseReason,
    },
    /// Answer a command.
    Answer(Answer),
    /// Replace the stored snapshot with `snapshot`, dropping the log through `through`; answer
    /// with `handle_compacted`.
    Compact { snapshot: Vec<u8>, through: Seq },
    /// Keep `snapshot` as a version labelled `label`, and answer on `reply`.
    CreateVersion {
        label: String,
        snapshot: Vec<u8>,
        reply: oneshot::Sender<Result<VersionMeta, VersionError>>,
    },
    /// Remove the document from storage; answer with `handle_deleted`.
    Delete,
    /// Tell the other nodes sharing the document (only with a cluster).
    Publish(Announcement),
    /// Read the document from storage for what the cluster link did not bring, unless its
    /// last seq is still `held` (looked up first, cheaply: most resyncs find nothing new; `None`
    /// reads it whatever, for a hole); answer with `handle_caught_up`.
    CatchUp { held: Option<Seq> },
    /// The document was let go of while its clients stay (for listings and metrics).
    Sleep,
    /// The document is being taken back.
    Wake,
    /// Nobody is left and nothing is in flight: leave the registry unless a command is waiting
    /// (answer with `handle_retired` or `handle_retire_declined`).
    Retire,
    /// Leave the registry now, refusing whatever waits with `reason` (a failed load, a delete).
    Remove { reason: CloseReason },
}

/// An answer to a command.
pub(crate) enum Answer {
    Exported(
        oneshot::Sender<Result<Exported, ExportError>>,
        Result<Exported, ExportError>,
    ),
    Edited(
        oneshot::Sender<Result<bool, EditError>>,
        Result<bool, EditError>,
    ),
    Deleted(oneshot::Sender<Result<bool, String>>, Result<bool, String>),
    /// Refused without being handled.
    Refused(Box<RoomCommand>, CloseReason),
    /// A join that reached a room on its way out: dropping its reply sends the joiner to a
    /// fresh room.
    Redirected(Join),
}

impl Answer {
    /// Delivers the answer; a requester that stopped waiting is no one's concern.
    pub(crate) fn send(self) {
        match self {
            Answer::Exported(reply, answer) => {
                let _ = reply.send(answer);
            }
            Answer::Edited(reply, answer) => {
                let _ = reply.send(answer);
            }
            Answer::Deleted(reply, answer) => {
                let _ = reply.send(answer);
            }
            Answer::Refused(command, reason) => command.refuse(&reason),
            Answer::Redirected(join) => drop(join),
        }
    }
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Load => write!(formatter, "Load"),
            Effect::Persist { batch, updates } => {
                write!(formatter, "Persist({batch:?}, {} updates)", updates.len())
            }
            Effect::Admit { connection, .. } => write!(formatter, "Admit({connection})"),
            Effect::Send { to, frame } => write!(formatter, "Send({to}, {} bytes)", frame.len()),
            Effect::Broadcast { except, frame } => {
                write!(
                    formatter,
                    "Broadcast(except {except:?}, {} bytes)",
                    frame.len()
                )
            }
            Effect::Relay { from, frame } => {
                write!(formatter, "Relay(from {from}, {} bytes)", frame.len())
            }
            Effect::Close { connection, reason } => {
                write!(formatter, "Close({connection}, {})", reason.code)
            }
            Effect::Answer(_) => write!(formatter, "Answer"),
            Effect::Compact { through, .. } => write!(formatter, "Compact(through {through})"),
            Effect::CreateVersion { label, .. } => write!(formatter, "CreateVersion({label:?})"),
            Effect::Delete => write!(formatter, "Delete"),
            Effect::Publish(announcement) => write!(formatter, "Publish({announcement:?})"),
            Effect::CatchUp { held } => write!(formatter, "CatchUp(held {held:?})"),
            Effect::Sleep => write!(formatter, "Sleep"),
            Effect::Wake => write!(formatter, "Wake"),
            Effect::Retire => write!(formatter, "Retire"),
            Effect::Remove { reason } => write!(formatter, "Remove({})", reason.code),
        }
    }
}
