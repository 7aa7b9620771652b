//! The two framings the load generator speaks, and a cheap reader of what servers send.
//!
//! y-websocket sends bare y-protocols messages, one socket per room (the room is in the URL).
//! Hocuspocus multiplexes documents over a socket, so every message starts with the document name
//! (a lib0 string), it authenticates first (`Auth`/`Token` → `Auth`/`Authenticated`), answers a
//! SyncStep1 with a `SyncReply` (type 4, same body as `Sync`) and acknowledges every update with
//! `SyncStatus` (type 8). Both are y-protocols once the name is stripped, so one [`Framing`] per
//! connection adds and strips the prefix and everything else is shared.
//!
//! Incoming frames are classified without decoding their payloads ([`Incoming`] borrows from the
//! frame): a reader in the hot-room workload handles millions of frames a second and only needs
//! to know which update it got. Outgoing messages are encoded with yrs' own encoder.

use bytes::Bytes;
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_1, MSG_SYNC_STEP_2, MSG_SYNC_UPDATE,
    PERMISSION_DENIED,
};
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{ReadTxn, StateVector, Transact};

/// Hocuspocus' reply to a SyncStep1: a sync message under another type number.
const HOCUSPOCUS_SYNC_REPLY: u8 = 4;
/// Hocuspocus' auth message carrying a token (client → server).
const HOCUSPOCUS_AUTH_TOKEN: u8 = 0;
/// Hocuspocus' auth message refusing access, with a reason (server → client).
const HOCUSPOCUS_AUTH_PERMISSION_DENIED: u8 = 1;
/// Hocuspocus' auth message granting access (server → client).
const HOCUSPOCUS_AUTH_AUTHENTICATED: u8 = 2;

/// Which wire protocol a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// y-protocols over one WebSocket per room, the room in the URL path.
    YWebsocket,
    /// Hocuspocus: the document name before every message, an Auth message first.
    Hocuspocus,
}

impl Protocol {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::YWebsocket => "y-websocket",
            Protocol::Hocuspocus => "hocuspocus",
        }
    }
}

/// A frame the wire could not be read as.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame ended inside a varint or a length-prefixed field.
    #[error("malformed frame: {0}")]
    Malformed(#[from] yrs::encoding::read::Error),
    /// A Hocuspocus frame named another document than this connection's.
    #[error("frame for document {found:?} on the connection of {expected:?}")]
    OtherDocument { expected: String, found: String },
}

/// A received message, borrowing its payload from the frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'frame> {
    /// SyncStep1 with the encoded state vector.
    SyncStep1(&'frame [u8]),
    /// SyncStep2 with an encoded Update v1.
    SyncStep2(&'frame [u8]),
    /// An Update v1 (a live edit).
    Update(&'frame [u8]),
    /// An encoded awareness update.
    Awareness(&'frame [u8]),
    /// Hocuspocus granted access.
    Authenticated,
    /// Access refused, with the server's reason.
    PermissionDenied(String),
    /// Anything else (Hocuspocus `SyncStatus` acks, awareness queries, ...): nothing to do.
    Other,
}

/// Adds and strips a connection's document prefix.
#[derive(Debug, Clone)]
pub struct Framing {
    protocol: Protocol,
    document: String,
}

impl Framing {
    /// The framing of a connection to `document`.
    pub fn new(protocol: Protocol, document: &str) -> Self {
        Framing {
            protocol,
            document: document.to_owned(),
        }
    }

    fn encoder(&self) -> EncoderV1 {
        let mut encoder = EncoderV1::new();
        if self.protocol == Protocol::Hocuspocus {
            encoder.write_string(&self.document);
        }
        encoder
    }

    /// Hocuspocus' first message: the token (any string when the server has no auth hook).
    pub fn auth(&self, token: &str) -> Bytes {
        let mut encoder = self.encoder();
        encoder.write_var(MSG_AUTH);
        encoder.write_var(HOCUSPOCUS_AUTH_TOKEN);
        encoder.write_string(token);
        Bytes::from(encoder.to_vec())
    }

    /// A SyncStep1 announcing `state`.
    pub fn sync_step1(&self, state: &StateVector) -> Bytes {
        self.sync_message(MSG_SYNC_STEP_1, &state.encode_v1())
    }

    /// A SyncStep2 carrying `update` (what the peer's SyncStep1 said it lacks).
    pub fn sync_step2(&self, update: &[u8]) -> Bytes {
        self.sync_message(MSG_SYNC_STEP_2, update)
    }

    /// A SyncStep2 from a client that holds nothing: the empty update.
    pub fn empty_sync_step2(&self) -> Bytes {
        let empty = yrs::Doc::new()
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        self.sync_step2(&empty)
    }

    /// An Update message around `update`.
    pub fn update(&self, update: &[u8]) -> Bytes {
        self.sync_message(MSG_SYNC_UPDATE, update)
    }

    /// An awareness message around an encoded awareness update.
    pub fn awareness(&self, update: &[u8]) -> Bytes {
        let mut encoder = self.encoder();
        encoder.write_var(MSG_AWARENESS);
        encoder.write_buf(update);
        Bytes::from(encoder.to_vec())
    }

    fn sync_message(&self, kind: u8, payload: &[u8]) -> Bytes {
        let mut encoder = self.encoder();
        encoder.write_var(MSG_SYNC);
        encoder.write_var(kind);
        encoder.write_buf(payload);
        Bytes::from(encoder.to_vec())
    }

    /// Classifies one received frame. Only the first message of a frame is read: every server
    /// measured sends one message per frame, as the stock y-websocket client requires.
    pub fn read<'frame>(&self, frame: &'frame [u8]) -> Result<Incoming<'frame>, FrameError> {
        let mut cursor = Cursor::new(frame);
        if self.protocol == Protocol::Hocuspocus {
            let document = cursor.read_string()?;
            if document != self.document {
                return Err(FrameError::OtherDocument {
                    expected: self.document.clone(),
                    found: document.to_owned(),
                });
            }
        }
        let kind: u8 = cursor.read_var()?;
        let incoming = match kind {
            MSG_SYNC | HOCUSPOCUS_SYNC_REPLY => {
                let sync_kind: u8 = cursor.read_var()?;
                let payload = read_slice(frame, &mut cursor)?;
                match sync_kind {
                    MSG_SYNC_STEP_1 => Incoming::SyncStep1(payload),
                    MSG_SYNC_STEP_2 => Incoming::SyncStep2(payload),
                    MSG_SYNC_UPDATE => Incoming::Update(payload),
                    _ => Incoming::Other,
                }
            }
            MSG_AWARENESS => Incoming::Awareness(read_slice(frame, &mut cursor)?),
            MSG_AUTH => {
                let auth_kind: u8 = cursor.read_var()?;
                match (self.protocol, auth_kind) {
                    (Protocol::Hocuspocus, HOCUSPOCUS_AUTH_AUTHENTICATED) => {
                        Incoming::Authenticated
                    }
                    (Protocol::Hocuspocus, HOCUSPOCUS_AUTH_PERMISSION_DENIED)
                    | (Protocol::YWebsocket, PERMISSION_DENIED) => {
                        Incoming::PermissionDenied(cursor.read_string()?.to_owned())
                    }
                    _ => Incoming::Other,
                }
            }
            _ => Incoming::Other,
        };
        Ok(incoming)
    }
}

/// Reads a length-prefixed field with yrs and returns it as a slice of `frame` itself (the
/// cursor's own borrow would end with this function).
fn read_slice<'frame>(
    frame: &'frame [u8],
    cursor: &mut Cursor<'_>,
) -> Result<&'frame [u8], FrameError> {
    let length = cursor.read_buf()?.len();
    Ok(&frame[cursor.next - length..cursor.next])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hocuspocus_frames_round_trip_through_the_prefix() {
        let framing = Framing::new(Protocol::Hocuspocus, "room-1");
        let frame = framing.update(&[1, 2, 3]);
        assert_eq!(framing.read(&frame).unwrap(), Incoming::Update(&[1, 2, 3]));
        let other = Framing::new(Protocol::Hocuspocus, "room-2");
        assert!(matches!(
            other.read(&frame),
            Err(FrameError::OtherDocument { .. })
        ));
    }

    #[test]
    fn y_websocket_frames_are_plain_y_protocols() {
        let framing = Framing::new(Protocol::YWebsocket, "ignored");
        assert_eq!(
            framing.update(&[7]),
            crdt_core::wire::encode_update_frame(&[7])
        );
    }

    #[test]
    fn hocuspocus_sync_reply_and_authenticated_are_recognised() {
        let framing = Framing::new(Protocol::Hocuspocus, "d");
        // "d", SyncReply, SyncStep2, one-byte update.
        let reply = [1, b'd', 4, 1, 1, 0];
        assert_eq!(framing.read(&reply).unwrap(), Incoming::SyncStep2(&[0]));
        // "d", Auth, Authenticated, "read-write".
        let mut authenticated = vec![1, b'd', 2, 2, 10];
        authenticated.extend_from_slice(b"read-write");
        assert_eq!(
            framing.read(&authenticated).unwrap(),
            Incoming::Authenticated
        );
        // "d", SyncStatus, saved.
        assert_eq!(framing.read(&[1, b'd', 8, 1]).unwrap(), Incoming::Other);
    }
}
