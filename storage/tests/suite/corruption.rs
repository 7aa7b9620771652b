//! Damaged, misplaced and missing records: load stops at the first bad one,
//! returns everything before it, says what it found, and leaves other
//! documents alone. Damage is done through the hidden raw-access hook.

use storage::testing::RawSlot;
use storage::{
    Corruption, CorruptionReason, RecordError, RecordKind, RecordLocation, Seq, StoreError,
    VersionId,
};

use crate::fixtures::{TestStore, append_numbered, numbered, update_payloads};

/// A healthy neighbour whose load must be unaffected by the damage.
fn with_neighbour(store: &dyn TestStore) {
    append_numbered(store, "neighbour", "n", 3);
}

fn assert_neighbour_intact(store: &dyn TestStore) {
    let loaded = store.load("neighbour").unwrap();
    assert_eq!(loaded.corruption, None);
    assert_eq!(update_payloads(&loaded), numbered("n", 1..=3));
}

fn raw(store: &dyn TestStore, doc: &str, slot: RawSlot) -> Vec<u8> {
    store.read_raw(doc, slot).expect("slot exists")
}

fn overwrite(store: &dyn TestStore, doc: &str, slot: RawSlot, bytes: Option<&[u8]>) {
    assert!(
        store.write_raw(doc, slot, bytes),
        "slot {slot:?} of {doc:?} not found"
    );
}

pub fn damaged_update_loads_good_prefix(store: &dyn TestStore) {
    with_neighbour(store);
    append_numbered(store, "doc", "u", 5);
    let mut bytes = raw(store, "doc", RawSlot::Update(Seq(3)));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    overwrite(store, "doc", RawSlot::Update(Seq(3)), Some(&bytes));

    let loaded = store.load("doc").unwrap();
    assert_eq!(update_payloads(&loaded), numbered("u", 1..=2));
    assert_eq!(loaded.loaded_through(), Seq(2));
    assert_eq!(loaded.last_seq, Seq(5));
    let corruption = loaded.corruption.expect("corruption reported");
    assert_eq!(corruption.location, RecordLocation::Update(Seq(3)));
    assert!(
        matches!(
            corruption.reason,
            CorruptionReason::Damaged(RecordError::ChecksumMismatch { .. })
        ),
        "{corruption}"
    );
    assert_neighbour_intact(store);
}

pub fn truncated_update_is_reported(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 2);
    let bytes = raw(store, "doc", RawSlot::Update(Seq(1)));
    overwrite(
        store,
        "doc",
        RawSlot::Update(Seq(1)),
        Some(&bytes[..bytes.len() - 2]),
    );
    let loaded = store.load("doc").unwrap();
    assert!(loaded.updates.is_empty());
    assert_eq!(
        loaded.corruption,
        Some(Corruption {
            location: RecordLocation::Update(Seq(1)),
            reason: CorruptionReason::Damaged(RecordError::LengthMismatch {
                declared: 3,
                actual: 1
            }),
        })
    );
}

pub fn misplaced_update_is_reported(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 3);
    let second = raw(store, "doc", RawSlot::Update(Seq(2)));
    overwrite(store, "doc", RawSlot::Update(Seq(3)), Some(&second));
    let loaded = store.load("doc").unwrap();
    assert_eq!(update_payloads(&loaded), numbered("u", 1..=2));
    assert_eq!(
        loaded.corruption,
        Some(Corruption {
            location: RecordLocation::Update(Seq(3)),
            reason: CorruptionReason::Misplaced {
                found_kind: RecordKind::Update,
                found_seq: Seq(2)
            },
        })
    );
}

pub fn missing_update_is_reported(store: &dyn TestStore) {
    with_neighbour(store);
    append_numbered(store, "doc", "u", 4);
    overwrite(store, "doc", RawSlot::Update(Seq(2)), None);
    let loaded = store.load("doc").unwrap();
    // Update 3 is intact but is not returned: applying it without 2 would
    // silently build a different document.
    assert_eq!(update_payloads(&loaded), numbered("u", [1]));
    assert_eq!(
        loaded.corruption,
        Some(Corruption {
            location: RecordLocation::Update(Seq(2)),
            reason: CorruptionReason::Missing
        })
    );
    assert_neighbour_intact(store);
}

pub fn missing_last_update_is_reported(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 3);
    overwrite(store, "doc", RawSlot::Update(Seq(3)), None);
    let loaded = store.load("doc").unwrap();
    assert_eq!(update_payloads(&loaded), numbered("u", 1..=2));
    assert_eq!(
        loaded.corruption,
        Some(Corruption {
            location: RecordLocation::Update(Seq(3)),
            reason: CorruptionReason::Missing
        })
    );
}

pub fn damaged_snapshot_loads_nothing(store: &dyn TestStore) {
    with_neighbour(store);
    append_numbered(store, "doc", "u", 3);
    store.compact("doc", b"snapshot", Seq(2)).unwrap();
    let mut bytes = raw(store, "doc", RawSlot::Snapshot);
    bytes[20] ^= 0x01;
    overwrite(store, "doc", RawSlot::Snapshot, Some(&bytes));
    let loaded = store.load("doc").unwrap();
    // Updates after a bad snapshot have nothing to apply to.
    assert_eq!(loaded.snapshot, None);
    assert!(loaded.updates.is_empty());
    assert_eq!(loaded.last_seq, Seq(3));
    let corruption = loaded.corruption.expect("corruption reported");
    assert_eq!(corruption.location, RecordLocation::Snapshot);
    assert!(matches!(corruption.reason, CorruptionReason::Damaged(_)));
    assert_neighbour_intact(store);
}

pub fn corrupt_entry_fails_loudly_but_is_listed_and_delete_clears_it(store: &dyn TestStore) {
    with_neighbour(store);
    append_numbered(store, "doc", "u", 2);
    let mut bytes = raw(store, "doc", RawSlot::Entry);
    bytes[30] ^= 0xff;
    overwrite(store, "doc", RawSlot::Entry, Some(&bytes));

    let is_corrupt_entry = |result: Result<(), StoreError>| matches!(result, Err(StoreError::CorruptEntry { ref doc, .. }) if doc == "doc");
    assert!(is_corrupt_entry(store.load("doc").map(drop)));
    assert!(is_corrupt_entry(store.metadata("doc").map(drop)));
    assert!(is_corrupt_entry(store.append("doc", b"u-3").map(drop)));
    assert!(is_corrupt_entry(store.compact("doc", b"s", Seq(1))));
    // A listing shows the damaged document instead of failing as a whole.
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let damaged = listed.iter().find(|meta| meta.id == "doc").unwrap();
    assert!(damaged.damaged);
    assert!(listed.iter().all(|meta| meta.id == "doc" || !meta.damaged));
    assert_eq!(store.list_page(None, 10).unwrap(), listed);
    assert!(is_corrupt_entry(
        store.create_version("doc", "v", b"s").map(drop)
    ));
    assert!(is_corrupt_entry(store.list_versions("doc").map(drop)));
    assert!(is_corrupt_entry(
        store.load_version("doc", VersionId(1)).map(drop)
    ));
    assert_neighbour_intact(store);

    assert!(store.delete("doc").unwrap());
    assert_eq!(store.metadata("doc").unwrap(), None);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(store.append("doc", b"fresh").unwrap().seq, Seq(1));
    assert_eq!(
        update_payloads(&store.load("doc").unwrap()),
        vec![b"fresh".to_vec()]
    );
}

/// The documented recovery: snapshot the good prefix and compact through
/// `last_seq`, which drops the damaged record and everything after it.
pub fn compacting_past_corruption_heals(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 4);
    let mut bytes = raw(store, "doc", RawSlot::Update(Seq(2)));
    bytes[0] = 0xee;
    overwrite(store, "doc", RawSlot::Update(Seq(2)), Some(&bytes));
    let loaded = store.load("doc").unwrap();
    assert!(matches!(
        loaded.corruption,
        Some(Corruption {
            reason: CorruptionReason::Damaged(RecordError::UnknownVersion { version: 0xee }),
            ..
        })
    ));
    store.compact("doc", b"u-1 only", loaded.last_seq).unwrap();
    store.append("doc", b"u-5").unwrap();
    let healed = store.load("doc").unwrap();
    assert_eq!(healed.corruption, None);
    assert_eq!(healed.snapshot.as_deref(), Some(&b"u-1 only"[..]));
    assert_eq!(update_payloads(&healed), numbered("u", [5]));
}
