//! Decoding one message never allocates more than a small multiple of its size.
//!
//! A counting global allocator records, per thread, the most memory live at once while a
//! decoder runs. The inputs are what an attacker sends: the 10-byte frame that once grew the
//! server by 500 MB/s, crafted counts and nestings, arbitrary bytes, and real messages (from
//! real documents) mutated by flipping bytes, cutting them short, bumping varints and splicing
//! them together. Every decoder the server runs on untrusted bytes must stay within
//! `MULTIPLE * input + SLACK`, whether it accepts the input or not.

#![allow(unsafe_code)] // the counting allocator below, and nothing else

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use crdt_core::untrusted::{
    DecodeError, decode_awareness_update, decode_state_vector, decode_update_v1, decode_update_v2,
};
use crdt_core::wire::{FrameLimits, decode_frame_within, encode_frame};
use proptest::prelude::*;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Any, Array, Doc, Map, ReadTxn, StateVector, Text, Transact, WriteTxn};

/// Most bytes live at once while decoding, per byte of input. yrs keeps an item in about 180
/// bytes and a nested type in about 400, and either can be encoded in four bytes, so a valid
/// update of nothing but those decodes to about 45x and 100x its size (the densest cases below).
const MULTIPLE: usize = 128;
/// ...plus this much for any input, however small.
const SLACK: usize = 64 * 1024;

struct CountingAllocator;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the thread-local counters
// are const-initialised `Cell`s, which neither allocate nor re-enter the allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grow(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        shrink(layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            grow(layout.size());
        }
        pointer
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn grow(bytes: usize) {
    // `try_with`: a thread being torn down has no counters left, and that is fine.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrink(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

/// The most bytes `run` had live at once beyond what was live when it started.
fn peak_of(run: impl FnOnce()) -> usize {
    quiet_panics();
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    run();
    PEAK.with(Cell::get) - start
}

/// yrs's debug assertions and overflow checks panic on some input (release builds have
/// neither); the decoders catch those panics. The default hook would print each, capturing a
/// backtrace when `RUST_BACKTRACE` is set, and that capture (tens of MB of symbols) would be
/// counted as the decoder's. The hook is the process's, so it is silenced for this test binary.
fn quiet_panics() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

/// One decoder under test, its result dropped.
type Decoder<'a> = &'a dyn Fn(&[u8]);

/// Runs every decoder the server applies to untrusted bytes on `input`, each on its own, and
/// checks each stays within the bound.
fn assert_bounded(input: &[u8]) {
    let bound = MULTIPLE * input.len() + SLACK;
    let limits = FrameLimits::default();
    let decoders: [(&str, Decoder); 5] = [
        ("frame", &|bytes| drop(decode_frame_within(bytes, &limits))),
        ("state vector", &|bytes| drop(decode_state_vector(bytes))),
        ("update v1", &|bytes| drop(decode_update_v1(bytes))),
        ("update v2", &|bytes| drop(decode_update_v2(bytes))),
        ("awareness", &|bytes| {
            drop(decode_awareness_update(
                bytes,
                limits.max_awareness_state_bytes,
            ))
        }),
    ];
    for (name, decode) in decoders {
        let peak = peak_of(|| decode(input));
        assert!(
            peak <= bound,
            "{name} decoding of {} bytes peaked at {peak} bytes (bound {bound}): {:02x?}",
            input.len(),
            &input[..input.len().min(64)]
        );
    }
}

#[test]
fn the_ten_byte_frame_of_issue_22_allocates_next_to_nothing() {
    let frame = [0x00, 0x00, 0x07, 0xdb, 0xb9, 0x9a, 0xff, 0x8a, 0x0d, 0x0d];
    assert!(decode_frame_within(&frame, &FrameLimits::default()).is_err());
    assert_bounded(&frame);
    // The same seven bytes as a state vector (`?since=`) and at the start of an update body.
    assert_bounded(&frame[3..]);
}

#[test]
fn crafted_counts_allocate_next_to_nothing() {
    let huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let inputs: Vec<Vec<u8>> = vec![
        // An update of 2^32 - 1 clients; of one client with 2^32 - 1 blocks.
        [&huge[..], &[0]].concat(),
        [&[1][..], &huge, &[1, 0]].concat(),
        // One Any-content item of 2^32 - 1 values; a map of 2^32 - 1 entries; a JSON item.
        [&[1, 1, 1, 0, 8, 1, b't'][..], &huge, &[126]].concat(),
        [&[1, 1, 1, 0, 8, 1, b't', 1, 118][..], &huge].concat(),
        [&[1, 1, 1, 0, 2, 1, b't'][..], &huge].concat(),
        // An awareness update of 2^32 - 1 states; a delete set of 2^32 - 1 ranges.
        [&huge[..], &[1, 1, 2, b'{', b'}']].concat(),
        [&[0, 1, 1][..], &huge, &[0, 1]].concat(),
    ];
    for input in inputs {
        assert_bounded(&input);
        let frame = encode_frame(&Message::Sync(SyncMessage::Update(input.clone())));
        assert_bounded(&frame);
    }
}

/// Real messages of every kind, from a document holding every kind of content.
fn real_messages() -> Vec<Vec<u8>> {
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        let text = txn.get_or_insert_text("text");
        text.insert(&mut txn, 0, "hello world, héllo 😀");
        text.remove_range(&mut txn, 2, 3);
        let map = txn.get_or_insert_map("map");
        map.insert(&mut txn, "n", 42);
        map.insert(&mut txn, "s", "value");
        map.insert(&mut txn, "doc", Doc::new());
        let array = txn.get_or_insert_array("array");
        array.push_back(&mut txn, vec![1u8, 2, 3]);
        array.push_back(
            &mut txn,
            Any::Array(Arc::from(vec![Any::Null, Any::from("x"), Any::from(2.5)])),
        );
    }
    let txn = doc.transact();
    let state = txn.state_vector();
    let v1 = txn.encode_state_as_update_v1(&StateVector::default());
    let v2 = txn.encode_state_as_update_v2(&StateVector::default());
    let awareness = AwarenessUpdate {
        clients: [(
            yrs::block::ClientID::new(7),
            AwarenessUpdateEntry {
                clock: 3,
                json: Arc::from(r##"{"user":{"name":"ana","color":"#30bced"},"cursor":null}"##),
            },
        )]
        .into_iter()
        .collect(),
    };
    vec![
        encode_frame(&Message::Sync(SyncMessage::SyncStep1(state.clone()))).to_vec(),
        encode_frame(&Message::Sync(SyncMessage::SyncStep2(v1.clone()))).to_vec(),
        encode_frame(&Message::Sync(SyncMessage::Update(v1.clone()))).to_vec(),
        encode_frame(&Message::Awareness(awareness.clone())).to_vec(),
        state.encode_v1(),
        v1,
        v2,
        awareness.encode_v1(),
    ]
}

/// One way an attacker changes a real message.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: prop::sample::Index,
        to: u8,
    },
    Truncate(prop::sample::Index),
    BumpVarint(prop::sample::Index),
    Splice {
        at: prop::sample::Index,
        from: prop::sample::Index,
        length: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, to)| Mutation::Flip { at, to }),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        any::<prop::sample::Index>().prop_map(Mutation::BumpVarint),
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            1usize..32
        )
            .prop_map(|(at, from, length)| Mutation::Splice { at, from, length }),
    ]
}

fn mutate(message: &mut Vec<u8>, mutation: &Mutation, donor: &[u8]) {
    if message.is_empty() {
        return;
    }
    match mutation {
        Mutation::Flip { at, to } => {
            let at = at.index(message.len());
            message[at] = *to;
        }
        Mutation::Truncate(at) => message.truncate(at.index(message.len())),
        Mutation::BumpVarint(at) => {
            // A count or length turned into the largest 5-byte varint.
            let at = at.index(message.len());
            message.splice(at..at + 1, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        }
        Mutation::Splice { at, from, length } => {
            let at = at.index(message.len());
            let from = from.index(donor.len().max(1)).min(donor.len());
            let end = (from + length).min(donor.len());
            message.splice(at..at, donor[from..end].iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Mutated real messages stay within the bound, whatever decodes them.
    #[test]
    fn mutated_real_messages_stay_within_the_bound(
        base in any::<prop::sample::Index>(),
        donor in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let messages = real_messages();
        let mut message = messages[base.index(messages.len())].clone();
        let donor = &messages[donor.index(messages.len())];
        for mutation in &mutations {
            mutate(&mut message, mutation, donor);
        }
        assert_bounded(&message);
    }

    /// So do arbitrary bytes.
    #[test]
    fn arbitrary_bytes_stay_within_the_bound(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        assert_bounded(&bytes);
    }
}

/// A v1 update of one client whose `count` blocks are each `block` (so the update is valid in
/// structure, and as dense in elements as v1 allows).
fn repeated_blocks(count: usize, first: &[u8], block: &[u8]) -> Vec<u8> {
    let mut update = vec![1];
    let mut count_bytes = Vec::new();
    let mut left = count as u64;
    while left >= 0x80 {
        count_bytes.push((left as u8 & 0x7f) | 0x80);
        left >>= 7;
    }
    count_bytes.push(left as u8);
    update.extend(count_bytes);
    update.extend([1, 0]); // client 1, from clock 0
    update.extend(first);
    for _ in 1..count {
        update.extend(block);
    }
    update.push(0); // no deletions
    update
}

#[test]
fn the_densest_valid_updates_stay_within_the_bound() {
    let count = 20_000;
    let cases: [(&str, &[u8], &[u8]); 4] = [
        // Garbage-collected ranges of length 1.
        ("gc", &[0, 1], &[0, 1]),
        // Deleted items, each after the previous one (origin client 1, clock i: 1 byte while i < 128).
        ("deleted", &[1, 1, 1, b't', 1], &[0x81, 1, 0, 1]),
        // Items of one `null` Any value each.
        ("any", &[8, 1, 1, b't', 1, 126], &[0x88, 1, 0, 1, 126]),
        // Nested maps (types), each after the previous one.
        ("type", &[7, 1, 1, b't', 1], &[0x87, 1, 0, 1]),
    ];
    for (name, first, block) in cases {
        let update = repeated_blocks(count, first, block);
        assert!(decode_update_v1(&update).is_ok(), "{name} decodes");
        assert_bounded(&update);
    }

    // yrs builds a whole `Doc` per sub-document: a real one (named by a 36-character UUID, as
    // Yjs names them) is accepted and within the bound; a stream of nameless ones is refused.
    let uuid = b"0f8e1c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    let real = [&[0x89, 1, 0, 36][..], uuid, &[118, 0]].concat();
    let update = repeated_blocks(
        2_000,
        &[&[9, 1, 1, b'm', 36][..], uuid, &[118, 0]].concat(),
        &real,
    );
    assert!(decode_update_v1(&update).is_ok());
    assert_bounded(&update);
    let nameless = repeated_blocks(count, &[9, 1, 1, b'm', 0, 127], &[0x89, 1, 0, 0, 127]);
    assert!(matches!(
        decode_update_v1(&nameless),
        Err(DecodeError::ExpandsTooFar { .. })
    ));
    assert_bounded(&nameless);
}
