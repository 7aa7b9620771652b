//! A room gives back the memory of its document when it is dropped, sub-documents included.
//!
//! yrs 0.28 never frees a document holding a sub-document (the item and the document refer to
//! each other); the room breaks that cycle as it goes (`room/subdocuments.rs`). A counting
//! allocator measures what stays allocated after many rooms have come and gone.

#![allow(unsafe_code)] // the counting allocator below, and nothing else

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use crdt_core::wire::encode_update_frame;
use crdt_core::{Access, Room};
use yrs::{Doc, Map, ReadTxn, StateVector, Transact};

struct CountingAllocator;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is an atomic.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// A document holding a map of `count` sub-documents, as one update.
fn with_subdocuments(count: usize) -> Vec<u8> {
    let doc = Doc::new();
    let map = doc.get_or_insert_map("pages");
    for page in 0..count {
        map.insert(&mut doc.transact_mut(), page.to_string(), Doc::new());
    }
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// The only test in this file, so nothing else allocates meanwhile.
#[test]
fn rooms_with_sub_documents_give_their_memory_back() {
    let update = encode_update_frame(&with_subdocuments(10));
    // One round first: one-time allocations (thread-locals, lazy statics) are not a leak.
    let round = |rooms: usize| {
        for _ in 0..rooms {
            let mut room = Room::new();
            let client = room.handle_connect(Access::ReadWrite);
            room.handle_frame(client, &update)
                .expect("the update applies");
            while room.poll_outgoing().is_some() {}
        }
    };
    round(1);
    let before = LIVE.load(Ordering::Relaxed);
    round(200);
    let kept = LIVE.load(Ordering::Relaxed) - before;
    // Leaking, each room kept its whole document: over 20 KB here, 4 MB in all.
    assert!(
        kept < 64 * 1024,
        "{kept} bytes stayed allocated after 200 rooms"
    );
}
