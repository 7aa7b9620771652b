//! The `/hocuspocus` endpoint's frame decoder, `server::hocuspocus::codec::decode_client_frame`,
//! on arbitrary frames, and the y-protocols message of each room frame it passes on through
//! `crdt_core::wire::decode_frame_within`, as the room decodes it.
//!
//! The server trusts the codec's classification of a room message (`RoomMessage::writes`
//! decides whether a read-only client is refused and whether the update is acknowledged), so
//! the room must decode exactly one message, of the kind the codec named. The frame then goes to
//! a room, as the server hands it to the document's room.

#![no_main]

#[path = "shared/mod.rs"]
mod shared;

/// The server's Hocuspocus codec, compiled here from its source file. A dependency on the server
/// crate would add its tokio, axum and rustls tree to every fuzz build (a clean build took 4 min
/// 20 s with it, 2 min without, on two cores) for one file that needs only crdt_core, yrs, bytes
/// and thiserror. Should codec.rs come to use the rest of the server, this build breaks, loudly.
#[path = "../../server/src/hocuspocus/codec.rs"]
#[allow(dead_code)] // The encoders for the server's answers are not fuzzed.
mod codec;

use bytes::Bytes;
use codec::{ClientFrame, DocumentMessage, RoomMessage, decode_client_frame};
use crdt_core::wire::{FrameLimits, decode_frame_within};
use crdt_core::{Access, Room};
use libfuzzer_sys::fuzz_target;
use yrs::sync::{Message, SyncMessage};

/// Small enough that mutated awareness states cross it often.
const LIMITS: FrameLimits = FrameLimits {
    max_awareness_state_bytes: 64,
};

fuzz_target!(|data: &[u8]| {
    shared::run(|| {
        let frame = Bytes::copy_from_slice(data);
        let Ok(ClientFrame::Document {
            message: DocumentMessage::Room { kind, frame },
            ..
        }) = decode_client_frame(&frame)
        else {
            return;
        };
        let Ok(messages) = decode_frame_within(&frame, &LIMITS) else {
            return;
        };
        let [message] = messages.as_slice() else {
            panic!("a {kind:?} frame decoded to {} messages", messages.len());
        };
        assert!(
            is_kind(message, kind),
            "the codec named a {kind:?} message, the room decoded {message:?}"
        );
        // What the server does with it: hand it to the document's room, which applies an
        // update only once it holds what the update builds on. A refusal is the room's answer
        // to a bad frame; only a panic is a crash.
        let mut room = Room::new();
        let connection = room.handle_connect(Access::ReadWrite);
        let _ = room.handle_frame(connection, &frame);
        while room.poll_outgoing().is_some() {}
    });
});

fn is_kind(message: &Message, kind: RoomMessage) -> bool {
    matches!(
        (message, kind),
        (
            Message::Sync(SyncMessage::SyncStep1(_)),
            RoomMessage::SyncStep1
        ) | (
            Message::Sync(SyncMessage::SyncStep2(_)),
            RoomMessage::SyncStep2
        ) | (Message::Sync(SyncMessage::Update(_)), RoomMessage::Update)
            | (Message::Awareness(_), RoomMessage::Awareness)
            | (Message::AwarenessQuery, RoomMessage::QueryAwareness)
    )
}
