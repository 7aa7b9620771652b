//! The Hocuspocus wire format: what a provider sends, and the messages Quire answers with.
//!
//! Every Hocuspocus message is one binary WebSocket frame: the document's *address* (a lib0
//! varString: the document name, or `name\0session` for providers with `sessionAwareness`), a
//! varUint message type, then the content. Types 0, 1 and 3 (sync, awareness, awareness query)
//! are y-protocols messages exactly as on `/ws`, so the bytes after the address go to the room
//! unchanged, as a slice of the received frame. The other types are Hocuspocus's own: auth with a
//! token, stateless payloads, close, and the SyncStatus acknowledgement. Two one-byte frames
//! without an address are keepalives: ping (9) and pong (10).
//!
//! Decoding is strict for what the room or other clients will see (one message, ending at the
//! frame's last byte) and lenient for auth and close, whose later protocol versions append
//! fields (4.x providers add their version after the token).

use bytes::{Bytes, BytesMut};
use crdt_core::Access;
use yrs::encoding::read::{Cursor, Error as ReadError, Read};
use yrs::encoding::write::Write;

/// Sync (SyncStep1, SyncStep2, Update), as in y-protocols.
pub const MESSAGE_SYNC: u8 = 0;
/// Awareness update, as in y-protocols.
pub const MESSAGE_AWARENESS: u8 = 1;
/// Authentication: a token from the client, Authenticated or PermissionDenied from the server.
pub const MESSAGE_AUTH: u8 = 2;
/// Awareness query, as in y-protocols.
pub const MESSAGE_QUERY_AWARENESS: u8 = 3;
/// An application payload (a string) Quire relays to the document's other clients.
pub const MESSAGE_STATELESS: u8 = 5;
/// Closes one document on the socket: from the client without content, from the server with a
/// reason.
pub const MESSAGE_CLOSE: u8 = 7;
/// The server's answer to a document update: 1 when it is durable, 0 when it was refused.
pub const MESSAGE_SYNC_STATUS: u8 = 8;
/// Keepalive ping, a frame of this one byte.
pub const MESSAGE_PING: u8 = 9;
/// Keepalive pong, a frame of this one byte.
pub const MESSAGE_PONG: u8 = 10;

/// Auth sub-type: the client's token.
const AUTH_TOKEN: u8 = 0;
/// Auth sub-type: the server refuses the document, with a reason.
const AUTH_PERMISSION_DENIED: u8 = 1;
/// Auth sub-type: the server accepts the document, with the scope granted.
const AUTH_AUTHENTICATED: u8 = 2;

/// y-protocols sync steps.
const SYNC_STEP1: u64 = 0;
const SYNC_STEP2: u64 = 1;
const SYNC_UPDATE: u64 = 2;

/// A frame a Hocuspocus provider sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// A keepalive ping; answered with [`pong`].
    Ping,
    /// A keepalive pong.
    Pong,
    /// A message about one document.
    Document {
        /// The document name, with `\0session` appended by session-aware providers.
        address: String,
        /// What the message says.
        message: DocumentMessage,
    },
}

/// What a client says about one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentMessage {
    /// A y-protocols message for the room: `frame` is the message, without the address.
    Room { kind: RoomMessage, frame: Bytes },
    /// The client opens the document with `token` (empty when it has none).
    Auth { token: String },
    /// An application payload for the document's other clients: `frame` is the whole message
    /// (type and payload) without the address, ready to relay.
    Stateless { frame: Bytes },
    /// The client is done with the document.
    Close,
    /// A message type clients do not send to servers (or a newer one); ignored, as y-websocket's
    /// server ignores unknown types.
    Ignored { message_type: u64 },
}

/// Which y-protocols message a [`DocumentMessage::Room`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomMessage {
    /// The client's state vector; the room answers with what it lacks.
    SyncStep1,
    /// The client's answer to the room's SyncStep1: what the room lacks.
    SyncStep2,
    /// One of the client's edits.
    Update,
    /// Presence.
    Awareness,
    /// A request for every presence state.
    QueryAwareness,
}

impl RoomMessage {
    /// Whether the message may change the document (and so is acknowledged, or refused for
    /// read-only clients).
    pub fn writes(self) -> bool {
        matches!(self, RoomMessage::SyncStep2 | RoomMessage::Update)
    }
}

/// Why a frame is not a Hocuspocus message.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame holds no bytes.
    #[error("empty frame")]
    Empty,
    /// The document address is not a lib0 varString of UTF-8.
    #[error("malformed document name: {0}")]
    Address(#[source] ReadError),
    /// The message type is missing or not a varUint.
    #[error("malformed message type: {0}")]
    MessageType(#[source] ReadError),
    /// The content does not match the message type.
    #[error("malformed {kind} message: {source}")]
    Content {
        /// The message type's name.
        kind: &'static str,
        #[source]
        source: ReadError,
    },
    /// A sync message names a step y-protocols does not have.
    #[error("unknown sync step {0}")]
    UnknownSyncStep(u64),
    /// Bytes follow a message that must end the frame.
    #[error("{0} bytes after the end of a {1} message")]
    TrailingBytes(usize, &'static str),
}

/// Decodes one frame from a provider.
pub fn decode_client_frame(frame: &Bytes) -> Result<ClientFrame, FrameError> {
    match frame.as_ref() {
        [] => return Err(FrameError::Empty),
        [MESSAGE_PING] => return Ok(ClientFrame::Ping),
        [MESSAGE_PONG] => return Ok(ClientFrame::Pong),
        _ => {}
    }
    let mut cursor = Cursor::new(frame);
    let address = cursor
        .read_string()
        .map_err(FrameError::Address)?
        .to_owned();
    let body_start = cursor.next;
    let message_type: u64 = cursor.read_var().map_err(FrameError::MessageType)?;
    let message = match u8::try_from(message_type) {
        Ok(MESSAGE_SYNC) => {
            let content = |source| FrameError::Content {
                kind: "sync",
                source,
            };
            let kind = match cursor.read_var::<u64>().map_err(content)? {
                SYNC_STEP1 => RoomMessage::SyncStep1,
                SYNC_STEP2 => RoomMessage::SyncStep2,
                SYNC_UPDATE => RoomMessage::Update,
                step => return Err(FrameError::UnknownSyncStep(step)),
            };
            cursor.read_buf().map_err(content)?;
            room_message(frame, &cursor, body_start, kind, "sync")?
        }
        Ok(MESSAGE_AWARENESS) => {
            cursor.read_buf().map_err(|source| FrameError::Content {
                kind: "awareness",
                source,
            })?;
            room_message(
                frame,
                &cursor,
                body_start,
                RoomMessage::Awareness,
                "awareness",
            )?
        }
        Ok(MESSAGE_QUERY_AWARENESS) => room_message(
            frame,
            &cursor,
            body_start,
            RoomMessage::QueryAwareness,
            "awareness query",
        )?,
        Ok(MESSAGE_AUTH) => {
            let content = |source| FrameError::Content {
                kind: "auth",
                source,
            };
            if cursor.read_var::<u64>().map_err(content)? == u64::from(AUTH_TOKEN) {
                // The provider's version and any later fields follow; they change nothing here.
                DocumentMessage::Auth {
                    token: cursor.read_string().map_err(content)?.to_owned(),
                }
            } else {
                // Only servers send the other auth messages.
                DocumentMessage::Ignored { message_type }
            }
        }
        Ok(MESSAGE_STATELESS) => {
            cursor.read_string().map_err(|source| FrameError::Content {
                kind: "stateless",
                source,
            })?;
            ensure_ended(&cursor, "stateless")?;
            DocumentMessage::Stateless {
                frame: frame.slice(body_start..),
            }
        }
        Ok(MESSAGE_CLOSE) => DocumentMessage::Close,
        _ => DocumentMessage::Ignored { message_type },
    };
    Ok(ClientFrame::Document { address, message })
}

fn room_message(
    frame: &Bytes,
    cursor: &Cursor<'_>,
    body_start: usize,
    kind: RoomMessage,
    name: &'static str,
) -> Result<DocumentMessage, FrameError> {
    ensure_ended(cursor, name)?;
    Ok(DocumentMessage::Room {
        kind,
        frame: frame.slice(body_start..),
    })
}

fn ensure_ended(cursor: &Cursor<'_>, name: &'static str) -> Result<(), FrameError> {
    match cursor.buf.len() - cursor.next {
        0 => Ok(()),
        left => Err(FrameError::TrailingBytes(left, name)),
    }
}

/// The lib0 varString of `address`: what starts every message about that document.
pub fn encode_address(address: &str) -> Bytes {
    let mut prefix = Vec::with_capacity(address.len() + 2);
    prefix.write_string(address);
    Bytes::from(prefix)
}

/// `message` (one y-protocols or Hocuspocus message) addressed to the document whose encoded
/// address is `prefix`.
pub fn addressed(prefix: &[u8], message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(prefix.len() + message.len());
    frame.extend_from_slice(prefix);
    frame.extend_from_slice(message);
    frame.freeze()
}

/// The SyncStatus message (without address): `durable` when the update is stored, false when it
/// was refused.
pub fn sync_status(durable: bool) -> Bytes {
    Bytes::from_static(if durable {
        &[MESSAGE_SYNC_STATUS, 1]
    } else {
        &[MESSAGE_SYNC_STATUS, 0]
    })
}

/// Authenticated, with the scope the provider exposes as `authorizedScope`.
pub fn authenticated(prefix: &[u8], access: Access) -> Bytes {
    let scope = match access {
        Access::ReadOnly => "readonly",
        Access::ReadWrite => "read-write",
    };
    auth_message(prefix, AUTH_AUTHENTICATED, scope)
}

/// PermissionDenied with `reason`, which the provider reports in `authenticationFailed`.
pub fn permission_denied(prefix: &[u8], reason: &str) -> Bytes {
    auth_message(prefix, AUTH_PERMISSION_DENIED, reason)
}

fn auth_message(prefix: &[u8], kind: u8, text: &str) -> Bytes {
    let mut frame = Vec::with_capacity(prefix.len() + text.len() + 4);
    frame.extend_from_slice(prefix);
    frame.write_var(MESSAGE_AUTH);
    frame.write_var(kind);
    frame.write_string(text);
    Bytes::from(frame)
}

/// The server closes the document for this client; the provider emits `close` with `reason`.
pub fn close(prefix: &[u8], reason: &str) -> Bytes {
    let mut frame = Vec::with_capacity(prefix.len() + reason.len() + 3);
    frame.extend_from_slice(prefix);
    frame.write_var(MESSAGE_CLOSE);
    frame.write_string(reason);
    Bytes::from(frame)
}

/// The answer to a keepalive ping.
pub fn pong() -> Bytes {
    Bytes::from_static(&[MESSAGE_PONG])
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
