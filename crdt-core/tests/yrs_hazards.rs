//! Updates yrs cannot apply safely never reach it.
//!
//! The fuzz targets found well-formed updates on which yrs 0.28 panics, loops forever or
//! crashes the process while applying them, or then encodes something it cannot read back: a
//! client listed twice with overlapping clocks, an item naming itself as its origin or parent,
//! empty items, clocks at the top of the 32-bit range, legacy JSON content, numbers past 32 bits
//! that yrs wraps and Yjs refuses, empty deleted ranges. `crdt_core::untrusted` refuses them all
//! (see its `update` module); this test feeds every input the fuzzers kept
//! (`fuzz/regressions/`) and the end-to-end fuzz's frames through what the server runs, in this
//! process: a crash or a hang here is a crash or a hang of the server.

use std::path::PathBuf;

use crdt_core::untrusted::{decode_update_v1, decode_update_v1_with_shape, decode_update_v2};
use crdt_core::wire::{decode_frame, encode_frame};
use crdt_core::{Access, Outgoing, Room};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact};

fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                bytes,
            )
        })
        .collect();
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "no regressions in {}",
        directory.display()
    );
    inputs
}

/// A room fed `frames` from one client must keep serving a second one a document it can
/// decode and apply, as the server's other clients need.
fn assert_room_survives(frames: &[&[u8]]) {
    let mut room = Room::new();
    let fuzzed = room.handle_connect(Access::ReadWrite);
    let observer = room.handle_connect(Access::ReadWrite);
    for frame in frames {
        if room.handle_frame(fuzzed, frame).is_err() {
            break;
        }
    }
    while room.poll_outgoing().is_some() {}
    let step1 = encode_frame(&Message::Sync(SyncMessage::SyncStep1(
        StateVector::default(),
    )));
    room.handle_frame(observer, &step1)
        .expect("a SyncStep1 is answered");
    let Some(Outgoing::Reply { frame, .. }) = room.poll_outgoing() else {
        panic!("no answer to the observer");
    };
    let messages = decode_frame(&frame).unwrap();
    let [Message::Sync(SyncMessage::SyncStep2(update))] = messages.as_slice() else {
        panic!("the answer is not one SyncStep2");
    };
    let update = decode_update_v1(update).expect("the room's document decodes again");
    Doc::new()
        .transact_mut()
        .apply_update(update)
        .expect("and applies to a fresh document");
    // What compaction would store must load back too.
    let snapshot = room.encode_state_as_update();
    decode_update_v1(&snapshot).expect("the room's snapshot decodes again");
}

/// Each kept `update` input (v1, or v2 as an HTTP body brings it) is refused or left waiting, as
/// a room would, or applies and re-encodes readably.
#[test]
fn kept_update_inputs_are_refused_or_apply_cleanly() {
    for (name, bytes) in regressions("update") {
        let as_v1 = decode_update_v2(&bytes).map(|update| update.encode_v1());
        for v1 in [Some(bytes.clone()), as_v1.ok()].into_iter().flatten() {
            let Ok((update, shape)) = decode_update_v1_with_shape(&v1) else {
                continue;
            };
            if !shape.is_satisfied_by(&StateVector::default()) {
                // A room holds it until what it builds on arrives.
                continue;
            }
            let doc = Doc::new();
            doc.transact_mut()
                .apply_update(update)
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            let state = doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            decode_update_v1(&state).unwrap_or_else(|error| panic!("{name}: {error}"));
        }
    }
}

/// Each kept `protocol_frame` input (an access byte, then frames split at `\xfe\xfd|`) leaves
/// the room serving its other client.
#[test]
fn kept_protocol_frame_inputs_leave_the_room_serving() {
    for (_, bytes) in regressions("protocol_frame") {
        let Some((_, rest)) = bytes.split_first() else {
            continue;
        };
        let frames = split(rest, b"\xfe\xfd|");
        assert_room_survives(&frames);
    }
}

/// The frames the end-to-end fuzz found: a room panicked inside yrs on the second; the others
/// were accepted and relayed though stock Yjs clients cannot apply them.
#[test]
fn frames_found_over_sockets_leave_the_room_serving() {
    let panicked_a_room: [&[u8]; 2] = [
        &[0x00, 0x02, 0x06, 0x00, 0x01, 0x69, 0x01, 0x11, 0x23],
        &[
            0x00, 0x02, 0x28, 0x01, 0x01, 0x69, 0xdb, 0xb1, 0x9a, 0xff, 0x8a, 0x0d, 0x08, 0x01,
            0x04, 0x6c, 0x69, 0x73, 0x74, 0x03, 0x75, 0x02, 0x77, 0x0a, 0x20, 0x22, 0x20, 0x42,
            0x7b, 0x5c, 0x0a, 0x22, 0x00, 0x00, 0x7e, 0x79, 0x7d, 0xa1, 0xfc, 0xb7, 0x81, 0x01,
            0x00,
        ],
    ];
    assert_room_survives(&panicked_a_room);
    // An empty deleted range ("Unexpected case" in Yjs) and a clock past 32 bits ("Integer out
    // of Range"): refused, not relayed.
    let empty_range: &[u8] = &[0x00, 0x02, 0x06, 0x00, 0x01, 0x49, 0x01, 0x27, 0x00];
    let wide_clock: &[u8] = &[
        0x00, 0x02, 0x11, 0x00, 0x01, 0x69, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb,
        0xff, 0xff, 0x0f, 0xff, 0x0f,
    ];
    for frame in [empty_range, wide_clock] {
        let mut room = Room::new();
        let sender = room.handle_connect(Access::ReadWrite);
        assert!(room.handle_frame(sender, frame).is_err(), "{frame:02x?}");
        assert_room_survives(&[frame]);
    }
}

fn split<'a>(mut input: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut frames = Vec::new();
    while let Some(at) = input
        .windows(separator.len())
        .position(|window| window == separator)
    {
        frames.push(&input[..at]);
        input = &input[at + separator.len()..];
    }
    frames.push(input);
    frames
}
