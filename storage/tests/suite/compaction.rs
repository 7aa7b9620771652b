//! Compaction: swapping in a snapshot and dropping the records it covers.

use storage::{LoadedDoc, Seq, StoreError};

use crate::fixtures::{TestStore, append_numbered, numbered, update_payloads};

pub fn compact_keeps_tail(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 5);
    store.compact("doc", b"snapshot-through-3", Seq(3)).unwrap();
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot-through-3"[..]));
    assert_eq!(loaded.snapshot_through, Seq(3));
    assert_eq!(update_payloads(&loaded), numbered("u", 4..=5));
    assert_eq!(loaded.updates[0].seq, Seq(4));
    assert_eq!(loaded.last_seq, Seq(5));
    assert_eq!(loaded.corruption, None);
}

pub fn compact_then_more_appends(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 2);
    store.compact("doc", b"first", Seq(2)).unwrap();
    let receipt = store.append("doc", b"u-3").unwrap();
    // Seqs continue across compaction; counters restart from the snapshot.
    assert_eq!(receipt.seq, Seq(3));
    assert_eq!(receipt.log_records, 1);
    assert_eq!(receipt.log_bytes, 3);
    store.append("doc", b"u-4").unwrap();
    store.compact("doc", b"second", Seq(3)).unwrap();
    store.append("doc", b"u-5").unwrap();
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"second"[..]));
    assert_eq!(update_payloads(&loaded), numbered("u", 4..=5));
    assert_eq!(loaded.loaded_through(), Seq(5));
}

pub fn compact_through_everything_empties_log(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 3);
    store.compact("doc", b"all", Seq(3)).unwrap();
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"all"[..]));
    assert!(loaded.updates.is_empty());
    assert_eq!(loaded.loaded_through(), Seq(3));
    let meta = store.metadata("doc").unwrap().unwrap();
    assert_eq!((meta.log_records, meta.log_bytes, meta.bytes), (0, 0, 3));
}

pub fn compact_refuses_invented_updates(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 2);
    let error = store.compact("doc", b"snap", Seq(3)).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::CompactBeyondLog {
                through: Seq(3),
                last_seq: Seq(2),
                ..
            }
        ),
        "{error:?}"
    );
    let error = store.compact("unknown", b"snap", Seq(1)).unwrap_err();
    assert!(
        matches!(error, StoreError::CompactBeyondLog { .. }),
        "{error:?}"
    );
    assert_eq!(store.metadata("unknown").unwrap(), None);
    // The refused compactions changed nothing.
    assert_eq!(
        update_payloads(&store.load("doc").unwrap()),
        numbered("u", 1..=2)
    );
}

pub fn compact_refuses_stale_snapshot(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 4);
    store.compact("doc", b"through-3", Seq(3)).unwrap();
    let error = store.compact("doc", b"through-2", Seq(2)).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::StaleCompaction {
                through: Seq(2),
                snapshot_through: Seq(3),
                ..
            }
        ),
        "{error:?}"
    );
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"through-3"[..]));
    assert_eq!(update_payloads(&loaded), numbered("u", [4]));
}

pub fn compact_again_at_same_seq_replaces_snapshot(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 2);
    store.compact("doc", b"first", Seq(1)).unwrap();
    store.compact("doc", b"re-encoded", Seq(1)).unwrap();
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"re-encoded"[..]));
    assert_eq!(update_payloads(&loaded), numbered("u", [2]));
}

pub fn compact_unknown_document_through_zero_imports(store: &dyn TestStore) {
    store
        .compact("imported", b"initial state", Seq::ZERO)
        .unwrap();
    let loaded = store.load("imported").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"initial state"[..]));
    assert_eq!(loaded.snapshot_through, Seq::ZERO);
    assert_eq!(loaded.last_seq, Seq::ZERO);
    assert_eq!(store.append("imported", b"u-1").unwrap().seq, Seq(1));
    assert_eq!(store.metadata("imported").unwrap().unwrap().bytes, 13 + 3);
}

/// A toy merge: a snapshot is the covered updates joined by newlines.
fn merge(loaded: &LoadedDoc) -> Vec<u8> {
    let mut items: Vec<&[u8]> = Vec::new();
    if let Some(snapshot) = loaded
        .snapshot
        .as_deref()
        .filter(|snapshot| !snapshot.is_empty())
    {
        items.extend(snapshot.split(|byte| *byte == b'\n'));
    }
    items.extend(loaded.updates.iter().map(|update| update.bytes.as_slice()));
    items.join(&b'\n')
}

/// One writer appends while a compactor repeatedly loads, merges and
/// compacts: at the end every update is present exactly once, in order.
pub fn concurrent_appends_and_compactions_lose_nothing(store: &dyn TestStore) {
    const UPDATES: u64 = 200;
    std::thread::scope(|scope| {
        scope.spawn(|| append_numbered(store, "doc", "u", UPDATES));
        scope.spawn(|| {
            for _ in 0..40 {
                let loaded = store.load("doc").unwrap();
                assert_eq!(loaded.corruption, None);
                if loaded.loaded_through() > loaded.snapshot_through {
                    store
                        .compact("doc", &merge(&loaded), loaded.loaded_through())
                        .unwrap();
                }
            }
        });
    });
    let loaded = store.load("doc").unwrap();
    let expected: Vec<u8> = numbered("u", 1..=UPDATES).join(&b'\n');
    assert_eq!(merge(&loaded), expected);
    assert_eq!(loaded.last_seq, Seq(UPDATES));
}
