//! What the relay understands of a frame: just enough of y-protocols (and of Hocuspocus's
//! framing around it) to look like a sync server to a client, and nothing of the document.
//!
//! y-websocket (`[message type][payload]`, room from the URL path):
//! - a SyncStep1 (`[0, 0, state vector]`) is answered with the SyncStep2 of an empty document,
//!   so the client sees "synced" at once; it is not forwarded.
//! - every other frame goes, byte for byte, to the other clients of the room.
//!
//! Hocuspocus (`[document name][message type][payload]`, any number of documents per socket):
//! - Auth joins the document's room and is answered "authenticated, read-write";
//! - SyncStep1 is answered with an empty-document SyncStep2, as above;
//! - SyncStep2 and Update are forwarded and acknowledged with SyncStatus(saved), as Hocuspocus
//!   acknowledges every applied update;
//! - Awareness and BroadcastStateless are forwarded; Close leaves the room; the rest is dropped.

use bytes::{BufMut, Bytes, BytesMut};

/// The wire protocol the relay speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// y-protocols over WebSocket, one room per URL path (y-websocket, Quire).
    YWebsocket,
    /// Hocuspocus: many documents over one socket, each message prefixed with its document name.
    Hocuspocus,
}

/// y-protocols message types (`y-protocols/sync`, `y-websocket`).
const MESSAGE_SYNC: u64 = 0;
const MESSAGE_AWARENESS: u64 = 1;
const SYNC_STEP_1: u64 = 0;
const SYNC_STEP_2: u64 = 1;
const SYNC_UPDATE: u64 = 2;
/// Hocuspocus message types beyond y-protocols' (`@hocuspocus/server` `MessageType`).
const HOCUSPOCUS_AUTH: u64 = 2;
const HOCUSPOCUS_SYNC_REPLY: u64 = 4;
const HOCUSPOCUS_BROADCAST_STATELESS: u64 = 6;
const HOCUSPOCUS_CLOSE: u64 = 7;
const HOCUSPOCUS_SYNC_STATUS: u64 = 8;
/// `@hocuspocus/common` auth sub-type for "authenticated".
const AUTH_AUTHENTICATED: u64 = 2;

/// The v1 update of an empty document: no structs, an empty delete set.
const EMPTY_UPDATE: [u8; 2] = [0, 0];

/// What to do with one incoming frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this frame back to the sender only.
    Answer(Bytes),
    /// Send the incoming frame to the other members of `room` (`None`: the URL's room), and
    /// `acknowledgement`, if any, back to the sender.
    Forward {
        room: Option<String>,
        acknowledgement: Option<Bytes>,
    },
    /// Join `room` (a Hocuspocus Auth) and send `answer` back.
    Join { room: String, answer: Bytes },
    /// Leave `room` (a Hocuspocus Close).
    Leave { room: String },
    /// Nothing to do.
    Ignore,
}

/// Decides what to do with `frame`.
pub fn classify(protocol: Protocol, frame: &[u8]) -> Action {
    match protocol {
        Protocol::YWebsocket => classify_y_websocket(frame),
        Protocol::Hocuspocus => classify_hocuspocus(frame).unwrap_or(Action::Ignore),
    }
}

fn classify_y_websocket(frame: &[u8]) -> Action {
    let mut reader = Reader(frame);
    if reader.var_uint() == Some(MESSAGE_SYNC) && reader.var_uint() == Some(SYNC_STEP_1) {
        let mut answer = BytesMut::with_capacity(5);
        put_var_uint(&mut answer, MESSAGE_SYNC);
        put_empty_sync_step_2(&mut answer);
        return Action::Answer(answer.freeze());
    }
    Action::Forward {
        room: None,
        acknowledgement: None,
    }
}

fn classify_hocuspocus(frame: &[u8]) -> Option<Action> {
    let mut reader = Reader(frame);
    let document = reader.var_string()?;
    let message_type = reader.var_uint()?;
    let reply = |body: &dyn Fn(&mut BytesMut)| {
        let mut reply = BytesMut::with_capacity(document.len() + 16);
        put_var_string(&mut reply, document);
        body(&mut reply);
        reply.freeze()
    };
    let forward = |acknowledgement| Action::Forward {
        room: Some(document.to_owned()),
        acknowledgement,
    };
    Some(match message_type {
        HOCUSPOCUS_AUTH => Action::Join {
            room: document.to_owned(),
            answer: reply(&|out| {
                put_var_uint(out, HOCUSPOCUS_AUTH);
                put_var_uint(out, AUTH_AUTHENTICATED);
                put_var_string(out, "read-write");
            }),
        },
        MESSAGE_SYNC | HOCUSPOCUS_SYNC_REPLY => match reader.var_uint()? {
            SYNC_STEP_1 => Action::Answer(reply(&|out| {
                put_var_uint(out, HOCUSPOCUS_SYNC_REPLY);
                put_empty_sync_step_2(out);
            })),
            SYNC_STEP_2 | SYNC_UPDATE => forward(Some(reply(&|out| {
                put_var_uint(out, HOCUSPOCUS_SYNC_STATUS);
                put_var_uint(out, 1);
            }))),
            _ => Action::Ignore,
        },
        MESSAGE_AWARENESS | HOCUSPOCUS_BROADCAST_STATELESS => forward(None),
        HOCUSPOCUS_CLOSE => Action::Leave {
            room: document.to_owned(),
        },
        _ => Action::Ignore,
    })
}

/// `[1 (SyncStep2)][varuint length][empty update]`, after the message type.
fn put_empty_sync_step_2(out: &mut BytesMut) {
    put_var_uint(out, SYNC_STEP_2);
    put_var_uint(out, EMPTY_UPDATE.len() as u64);
    out.put_slice(&EMPTY_UPDATE);
}

/// lib0 variable-length unsigned integer: 7 bits per byte, high bit set on all but the last.
fn put_var_uint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn put_var_string(out: &mut BytesMut, value: &str) {
    put_var_uint(out, value.len() as u64);
    out.put_slice(value.as_bytes());
}

/// Reads lib0 encodings from the front of a frame; `None` on truncated or invalid input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn var_uint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    fn var_string(&mut self) -> Option<&'a str> {
        let length = usize::try_from(self.var_uint()?).ok()?;
        if length > self.0.len() {
            return None;
        }
        let (text, rest) = self.0.split_at(length);
        self.0 = rest;
        std::str::from_utf8(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hocuspocus_frame(document: &str, body: &[u8]) -> Vec<u8> {
        let mut frame = BytesMut::new();
        put_var_string(&mut frame, document);
        frame.put_slice(body);
        frame.to_vec()
    }

    #[test]
    fn y_websocket_sync_step_1_gets_an_empty_document() {
        let action = classify(Protocol::YWebsocket, &[0, 0, 1, 0]);
        assert_eq!(action, Action::Answer(Bytes::from_static(&[0, 1, 2, 0, 0])));
    }

    #[test]
    fn y_websocket_updates_and_awareness_are_forwarded() {
        for frame in [&[0u8, 2, 2, 0, 0][..], &[1, 1, 0], &[0, 1, 2, 0, 0], &[]] {
            assert!(matches!(
                classify(Protocol::YWebsocket, frame),
                Action::Forward {
                    room: None,
                    acknowledgement: None
                }
            ));
        }
    }

    #[test]
    fn hocuspocus_auth_joins_and_sync_step_1_gets_an_empty_document() {
        let auth = hocuspocus_frame("doc", &[2, 0, 5, b't', b'o', b'k', b'e', b'n']);
        let Action::Join { room, answer } = classify(Protocol::Hocuspocus, &auth) else {
            panic!("auth not answered");
        };
        assert_eq!(room, "doc");
        assert_eq!(answer, hocuspocus_frame("doc", b"\x02\x02\x0aread-write"));
        let step_1 = hocuspocus_frame("doc", &[0, 0, 1, 0]);
        assert_eq!(
            classify(Protocol::Hocuspocus, &step_1),
            Action::Answer(hocuspocus_frame("doc", &[4, 1, 2, 0, 0]).into())
        );
    }

    #[test]
    fn hocuspocus_updates_are_forwarded_and_acknowledged() {
        let update = hocuspocus_frame("doc", &[0, 2, 2, 0, 0]);
        assert_eq!(
            classify(Protocol::Hocuspocus, &update),
            Action::Forward {
                room: Some("doc".into()),
                acknowledgement: Some(hocuspocus_frame("doc", &[8, 1]).into()),
            }
        );
    }

    #[test]
    fn truncated_hocuspocus_frames_are_ignored() {
        assert_eq!(classify(Protocol::Hocuspocus, &[5, b'd']), Action::Ignore);
        assert_eq!(classify(Protocol::Hocuspocus, &[0x80]), Action::Ignore);
    }
}
