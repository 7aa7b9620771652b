//! The y-protocols entry point of the server: `Room::handle_frame` on arbitrary frames from a
//! connected client, plus `crdt_core::wire::decode_frame` on the raw input.
//!
//! Input layout: the first byte picks the fuzzed connection's access (low bit: read-only), the
//! rest is split into frames at every `FRAME_SEPARATOR`, fed in order until one is refused, so the
//! fuzzer can build document state over several frames. Whatever happened, the room must then
//! answer a well-formed SyncStep1 from a second connection with a SyncStep2 carrying a decodable
//! update.

#![no_main]

#[path = "shared/mod.rs"]
mod shared;

use crdt_core::wire::{decode_frame, encode_frame};
use crdt_core::{Access, Outgoing, ProtocolError, Room};
use libfuzzer_sys::fuzz_target;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, StateVector, Transact, Update};

/// Separates frames in the input; unlikely inside a short y-protocols message.
const FRAME_SEPARATOR: &[u8] = b"\xfe\xfd|";

fuzz_target!(|data: &[u8]| {
    // The panics `Room` catches on purpose (inside yrs's decoders, see
    // `ProtocolError::UndecodableUpdate`) are not crashes; one escaping `handle_frame` is.
    shared::run(|| check(data));
});

fn check(data: &[u8]) {
    let _ = decode_frame(data);

    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let access = if flags & 1 == 1 {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let mut room = Room::new();
    let fuzzed = room.handle_connect(access);
    let observer = room.handle_connect(Access::ReadWrite);
    for frame in split_frames(rest) {
        let _ = decode_frame(frame);
        match room.handle_frame(fuzzed, frame) {
            Ok(()) => {}
            Err(ProtocolError::UnknownConnection(_)) => panic!("the fuzzed connection vanished"),
            // The server closes the connection on any error; so does the fuzz target.
            Err(_) => break,
        }
    }
    while room.poll_outgoing().is_some() {}

    let step1 = encode_frame(&Message::Sync(SyncMessage::SyncStep1(
        StateVector::default(),
    )));
    room.handle_frame(observer, &step1)
        .expect("a well-formed SyncStep1 is accepted");
    let Some(Outgoing::Reply { to, frame }) = room.poll_outgoing() else {
        panic!("SyncStep1 got no reply");
    };
    assert_eq!(to, observer);
    let messages = decode_frame(&frame).expect("the room's reply decodes");
    let [Message::Sync(SyncMessage::SyncStep2(update))] = messages.as_slice() else {
        panic!("SyncStep1 was not answered with one SyncStep2: {messages:?}");
    };
    let update = Update::decode_v1(update).expect("the SyncStep2 update decodes");
    Doc::new()
        .transact_mut()
        .apply_update(update)
        .expect("the SyncStep2 update applies to a fresh document");
}

fn split_frames(mut input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        match input
            .windows(FRAME_SEPARATOR.len())
            .position(|window| window == FRAME_SEPARATOR)
        {
            Some(at) => {
                let frame = &input[..at];
                input = &input[at + FRAME_SEPARATOR.len()..];
                Some(frame)
            }
            None => {
                done = true;
                Some(input)
            }
        }
    })
}
