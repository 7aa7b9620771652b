//! Named versions: created only for existing documents, listed oldest first, loaded back byte
//! for byte, left alone by compaction, removed with their document, and reported (not hidden,
//! not panicked on) when their records are damaged.

use std::time::{Duration, SystemTime};

use storage::testing::RawSlot;
use storage::{
    InvalidDocumentId, InvalidVersionLabel, MAX_VERSION_LABEL_BYTES, RecordError, RecordKind, Seq,
    StoreError, VersionId, VersionMeta, VersionRecordError,
};

use crate::fixtures::{TestStore, append_numbered, numbered, update_payloads};

fn ids(versions: &[VersionMeta]) -> Vec<VersionId> {
    versions.iter().map(|version| version.id).collect()
}

fn load(store: &dyn TestStore, doc: &str, id: u64) -> Option<(VersionMeta, Vec<u8>)> {
    store.load_version(doc, VersionId(id)).unwrap()
}

/// The error a damaged version produces, checked to name the right document and version.
fn corruption_of(result: Result<impl std::fmt::Debug, StoreError>, id: u64) -> VersionRecordError {
    match result {
        Err(StoreError::CorruptVersion {
            doc,
            version,
            source,
        }) => {
            assert_eq!((doc.as_str(), version), ("doc", VersionId(id)));
            source
        }
        other => panic!("expected CorruptVersion, got {other:?}"),
    }
}

pub fn versions_need_an_existing_document(store: &dyn TestStore) {
    let unknown = store.create_version("nobody", "v", b"state");
    assert!(
        matches!(unknown, Err(StoreError::UnknownDocument { ref doc }) if doc == "nobody"),
        "{unknown:?}"
    );
    assert_eq!(
        store.metadata("nobody").unwrap(),
        None,
        "nothing was created"
    );
    assert!(store.list_versions("nobody").unwrap().is_empty());
    assert_eq!(load(store, "nobody", 1), None);
}

pub fn versions_list_oldest_first_and_load_back(store: &dyn TestStore) {
    let before = SystemTime::now() - Duration::from_secs(1);
    append_numbered(store, "doc", "u", 2);
    let first = store
        .create_version("doc", "first draft", b"state-1")
        .unwrap();
    let second = store.create_version("doc", "", b"").unwrap();
    let third = store
        .create_version("doc", "reviewed — ✓", b"state-3")
        .unwrap();
    assert_eq!(ids(&[first.clone(), second.clone(), third.clone()]), {
        vec![VersionId(1), VersionId(2), VersionId(3)]
    });
    assert_eq!(first.label, "first draft");
    assert_eq!(first.bytes, 7);
    assert_eq!(second.bytes, 0);
    for version in [&first, &second, &third] {
        assert!(version.created_at >= before && version.created_at <= SystemTime::now());
    }
    assert_eq!(
        store.list_versions("doc").unwrap(),
        vec![first.clone(), second.clone(), third.clone()]
    );
    assert_eq!(load(store, "doc", 1), Some((first, b"state-1".to_vec())));
    assert_eq!(load(store, "doc", 2), Some((second, Vec::new())));
    assert_eq!(load(store, "doc", 3), Some((third, b"state-3".to_vec())));
    assert_eq!(load(store, "doc", 4), None);
    assert_eq!(load(store, "doc", 0), None);

    // Versions sit beside the document, not in it.
    let loaded = store.load("doc").unwrap();
    assert_eq!(update_payloads(&loaded), numbered("u", 1..=2));
    assert_eq!(store.metadata("doc").unwrap().unwrap().bytes, 6);
    // Ids keep counting and are the ones an operator would type back in.
    let fourth = store.create_version("doc", "again", b"state-4").unwrap();
    assert_eq!(fourth.id.to_string(), "4");
    assert_eq!(
        load(store, "doc", "4".parse::<VersionId>().unwrap().0).map(|(meta, _)| meta),
        Some(fourth)
    );
}

pub fn version_labels_and_ids_are_checked(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 1);
    let longest = "é".repeat(MAX_VERSION_LABEL_BYTES / 2);
    assert_eq!(
        store.create_version("doc", &longest, b"s").unwrap().label,
        longest
    );
    let too_long = store.create_version("doc", &"x".repeat(MAX_VERSION_LABEL_BYTES + 1), b"s");
    assert!(matches!(
        too_long,
        Err(StoreError::InvalidVersionLabel(
            InvalidVersionLabel::TooLong { length: 257 }
        ))
    ));
    let control = store.create_version("doc", "tab\there", b"s");
    assert!(matches!(
        control,
        Err(StoreError::InvalidVersionLabel(
            InvalidVersionLabel::ControlCharacter {
                character: '\t',
                byte_offset: 3
            }
        ))
    ));
    let bad_id = store.create_version("", "v", b"s");
    assert!(matches!(
        bad_id,
        Err(StoreError::InvalidDocumentId(InvalidDocumentId::Empty))
    ));
    assert!(store.list_versions("a\u{0}b").is_err());
    assert!(store.load_version("a\u{0}b", VersionId(1)).is_err());
    // Refusals wrote nothing: the next version is still number 2.
    assert_eq!(ids(&store.list_versions("doc").unwrap()), [VersionId(1)]);
    assert_eq!(
        store.create_version("doc", "ok", b"s").unwrap().id,
        VersionId(2)
    );
}

pub fn compaction_leaves_versions_alone(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 3);
    store.create_version("doc", "one", b"version-1").unwrap();
    store.compact("doc", b"merged", Seq(3)).unwrap();
    append_numbered(store, "doc", "v", 1);
    store.create_version("doc", "two", b"version-2").unwrap();
    store.compact("doc", b"merged again", Seq(4)).unwrap();

    assert_eq!(
        ids(&store.list_versions("doc").unwrap()),
        [VersionId(1), VersionId(2)]
    );
    assert_eq!(load(store, "doc", 1).unwrap().1, b"version-1");
    assert_eq!(load(store, "doc", 2).unwrap().1, b"version-2");
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"merged again"[..]));
    assert!(loaded.updates.is_empty());
    assert_eq!(loaded.corruption, None);
}

pub fn delete_removes_versions(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 1);
    store.create_version("doc", "one", b"version-1").unwrap();
    store.create_version("doc", "two", b"version-2").unwrap();
    assert!(store.delete("doc").unwrap());
    assert!(store.list_versions("doc").unwrap().is_empty());
    assert_eq!(load(store, "doc", 1), None);
    assert!(matches!(
        store.create_version("doc", "after", b"s"),
        Err(StoreError::UnknownDocument { .. })
    ));

    // A document created again is a new document: its versions start over.
    append_numbered(store, "doc", "u", 1);
    assert!(store.list_versions("doc").unwrap().is_empty());
    assert_eq!(
        store.create_version("doc", "fresh", b"s").unwrap().id,
        VersionId(1)
    );
    assert_eq!(load(store, "doc", 1).unwrap().1, b"s");
}

pub fn versions_of_documents_do_not_mix(store: &dyn TestStore) {
    for doc in ["a", "ab", "a/b"] {
        append_numbered(store, doc, "u", 1);
        store
            .create_version(doc, doc, format!("state of {doc}").as_bytes())
            .unwrap();
    }
    store.create_version("ab", "second", b"more").unwrap();
    for doc in ["a", "a/b"] {
        let versions = store.list_versions(doc).unwrap();
        assert_eq!(ids(&versions), [VersionId(1)], "{doc}");
        assert_eq!(versions[0].label, doc);
        assert_eq!(
            load(store, doc, 1).unwrap().1,
            format!("state of {doc}").into_bytes()
        );
        assert_eq!(load(store, doc, 2), None);
    }
    assert_eq!(store.list_versions("ab").unwrap().len(), 2);
    assert!(store.delete("ab").unwrap());
    assert_eq!(store.list_versions("a").unwrap().len(), 1);
}

pub fn concurrent_versions_get_distinct_ids(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 1);
    std::thread::scope(|scope| {
        for thread in 0..4 {
            scope.spawn(move || {
                for number in 0..10 {
                    let label = format!("t{thread}-{number}");
                    store
                        .create_version("doc", &label, label.as_bytes())
                        .unwrap();
                }
            });
        }
    });
    let versions = store.list_versions("doc").unwrap();
    assert_eq!(ids(&versions), (1..=40).map(VersionId).collect::<Vec<_>>());
    for version in versions {
        let (meta, snapshot) = load(store, "doc", version.id.0).unwrap();
        assert_eq!(snapshot, meta.label.as_bytes());
    }
}

pub fn damaged_version_entry_is_reported(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 2);
    for number in 1..=3 {
        store
            .create_version("doc", &format!("v{number}"), b"state")
            .unwrap();
    }
    let slot = RawSlot::VersionEntry(VersionId(2));
    let mut bytes = store.read_raw("doc", slot).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    assert!(store.write_raw("doc", slot, Some(&bytes)));

    let reason = corruption_of(store.list_versions("doc"), 2);
    assert!(
        matches!(
            reason,
            VersionRecordError::DamagedEntry(RecordError::ChecksumMismatch { .. })
        ),
        "{reason:?}"
    );
    assert!(matches!(
        corruption_of(store.load_version("doc", VersionId(2)), 2),
        VersionRecordError::DamagedEntry(_)
    ));
    // Only that version is affected.
    assert_eq!(load(store, "doc", 1).unwrap().0.label, "v1");
    assert_eq!(load(store, "doc", 3).unwrap().0.label, "v3");
    assert_eq!(store.load("doc").unwrap().corruption, None);
    // New versions do not reuse the damaged one's id, and delete clears everything.
    assert_eq!(
        store.create_version("doc", "v4", b"s").unwrap().id,
        VersionId(4)
    );
    assert!(store.delete("doc").unwrap());
    append_numbered(store, "doc", "u", 1);
    assert!(store.list_versions("doc").unwrap().is_empty());
}

pub fn truncated_or_misplaced_version_entry_is_reported(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 1);
    store.create_version("doc", "one", b"state-1").unwrap();
    store.create_version("doc", "two", b"state-2").unwrap();
    let first = store
        .read_raw("doc", RawSlot::VersionEntry(VersionId(1)))
        .unwrap();

    let truncated = &first[..first.len() - 1];
    assert!(store.write_raw("doc", RawSlot::VersionEntry(VersionId(1)), Some(truncated)));
    assert!(matches!(
        corruption_of(store.load_version("doc", VersionId(1)), 1),
        VersionRecordError::DamagedEntry(RecordError::LengthMismatch { .. })
    ));

    assert!(store.write_raw("doc", RawSlot::VersionEntry(VersionId(2)), Some(&first)));
    assert_eq!(
        corruption_of(store.load_version("doc", VersionId(2)), 2),
        VersionRecordError::MisplacedEntry {
            found_kind: RecordKind::VersionEntry,
            found_seq: Seq(1)
        }
    );
}

pub fn damaged_version_snapshot_is_reported(store: &dyn TestStore) {
    append_numbered(store, "doc", "u", 1);
    store.create_version("doc", "one", b"state-1").unwrap();
    store.create_version("doc", "two", b"state-2").unwrap();
    store.create_version("doc", "three", b"state-3").unwrap();

    let slot = RawSlot::VersionSnapshot(VersionId(1));
    let mut bytes = store.read_raw("doc", slot).unwrap();
    bytes[20] ^= 0x01;
    assert!(store.write_raw("doc", slot, Some(&bytes)));
    assert!(matches!(
        corruption_of(store.load_version("doc", VersionId(1)), 1),
        VersionRecordError::DamagedSnapshot(RecordError::ChecksumMismatch { .. })
    ));

    let second = store
        .read_raw("doc", RawSlot::VersionSnapshot(VersionId(2)))
        .unwrap();
    assert!(store.write_raw("doc", RawSlot::VersionSnapshot(VersionId(3)), Some(&second)));
    assert_eq!(
        corruption_of(store.load_version("doc", VersionId(3)), 3),
        VersionRecordError::MisplacedSnapshot {
            found_kind: RecordKind::VersionSnapshot,
            found_seq: Seq(2)
        }
    );

    assert!(store.write_raw("doc", RawSlot::VersionSnapshot(VersionId(2)), None));
    assert_eq!(
        corruption_of(store.load_version("doc", VersionId(2)), 2),
        VersionRecordError::MissingSnapshot
    );

    // Listing reads entries only, so damaged snapshots do not stop it.
    assert_eq!(store.list_versions("doc").unwrap().len(), 3);
}
