//! What malformed or unacceptable input turns into.
//!
//! Every variant is a reason to end the offending connection (and only it): the server maps them
//! to a WebSocket close code and reason. None of them leaves the room's document half-changed:
//! updates are decoded fully before a transaction is opened.

use crate::room::ConnectionId;
use crate::untrusted::DecodeError;

/// Why a frame from a client was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The frame held no bytes at all; y-protocols never sends that.
    #[error("empty frame")]
    EmptyFrame,
    /// The bytes do not form a y-protocols message (bad varint, truncated buffer, unknown sync
    /// step...).
    #[error("malformed message: {0}")]
    MalformedMessage(#[source] yrs::encoding::read::Error),
    /// Decoding a message panicked inside `yrs` (a client id over 53 bits, for one); caught so
    /// one bad client cannot take the room down.
    #[error("message could not be decoded")]
    UndecodableMessage,
    /// A sync message carried bytes that are not a Yjs v1 update.
    #[error("malformed document update: {0}")]
    MalformedUpdate(#[source] yrs::encoding::read::Error),
    /// The update decoded but `yrs` refused to integrate it.
    #[error("document update rejected: {0}")]
    UpdateRejected(#[source] yrs::error::UpdateError),
    /// Decoding the update panicked inside `yrs`; caught so one bad client cannot take the room
    /// down.
    #[error("document update could not be decoded")]
    UndecodableUpdate,
    /// A count, nesting or awareness state in the message was refused before yrs decoded it
    /// (see [`crate::untrusted`]).
    #[error("invalid message: {0}")]
    Invalid(#[from] DecodeError),
    /// The update builds on content the room does not hold (it follows missing clocks, or
    /// points at items never seen): a client that reconnects sends them in its SyncStep2.
    #[error("the update depends on content the server lacks: reconnect to resync")]
    MissingDependencies,
    /// The work asked for walks shared types recursively, and they nest deeper than `limit`
    /// levels (see [`crate::export::MAX_JSON_DEPTH`]); walking them could overflow the stack.
    #[error("shared types nest deeper than {limit} levels")]
    TooDeep {
        /// The deepest nesting walked.
        limit: usize,
    },
    /// A peer server's awareness frame held something other than one awareness message.
    #[error("a peer's awareness frame held another message")]
    NotAwareness,
    /// The connection is not (or no longer) part of this room.
    #[error("unknown connection {0}")]
    UnknownConnection(ConnectionId),
}

impl ProtocolError {
    /// True when the message was refused for its size rather than its form (a too-large
    /// awareness state), which transports answer as they answer an oversized message.
    pub fn is_oversized(&self) -> bool {
        matches!(
            self,
            ProtocolError::Invalid(DecodeError::AwarenessTooLarge { .. })
        )
    }
}
