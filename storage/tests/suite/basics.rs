//! Appending, loading, listing and deleting without compaction.

use std::time::{Duration, SystemTime};

use storage::{AppendReceipt, InvalidDocumentId, LoadedDoc, Seq, StoreError};

use crate::fixtures::{TestStore, append_numbered, numbered, update_payloads};

pub fn unknown_document_loads_empty(store: &dyn TestStore) {
    assert_eq!(store.load("nobody").unwrap(), LoadedDoc::default());
    assert_eq!(store.metadata("nobody").unwrap(), None);
    assert!(store.list().unwrap().is_empty());
}

pub fn appends_load_in_order(store: &dyn TestStore) {
    let receipts: Vec<AppendReceipt> = ["one", "two", "three"]
        .iter()
        .map(|update| store.append("doc", update.as_bytes()).unwrap())
        .collect();
    assert_eq!(
        receipts,
        vec![
            AppendReceipt {
                seq: Seq(1),
                log_records: 1,
                log_bytes: 3,
                created: true,
            },
            AppendReceipt {
                seq: Seq(2),
                log_records: 2,
                log_bytes: 6,
                created: false,
            },
            AppendReceipt {
                seq: Seq(3),
                log_records: 3,
                log_bytes: 11,
                created: false,
            },
        ]
    );
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot, None);
    assert_eq!(loaded.snapshot_through, Seq::ZERO);
    assert_eq!(
        update_payloads(&loaded),
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    let seqs: Vec<Seq> = loaded.updates.iter().map(|update| update.seq).collect();
    assert_eq!(seqs, vec![Seq(1), Seq(2), Seq(3)]);
    assert_eq!(loaded.last_seq, Seq(3));
    assert_eq!(loaded.loaded_through(), Seq(3));
    assert_eq!(loaded.corruption, None);
}

pub fn empty_update_round_trips(store: &dyn TestStore) {
    let receipt = store.append("doc", b"").unwrap();
    assert_eq!(receipt.log_bytes, 0);
    assert_eq!(
        update_payloads(&store.load("doc").unwrap()),
        vec![Vec::<u8>::new()]
    );
}

pub fn flush_succeeds(store: &dyn TestStore) {
    store.flush().unwrap();
    append_numbered(store, "doc", "u", 2);
    store.flush().unwrap();
    assert_eq!(store.load("doc").unwrap().updates.len(), 2);
}

pub fn metadata_reports_sizes_and_counts(store: &dyn TestStore) {
    let before = SystemTime::now() - Duration::from_secs(1);
    store.append("doc", b"12345").unwrap();
    store.append("doc", b"678").unwrap();
    let meta = store.metadata("doc").unwrap().unwrap();
    assert_eq!(meta.id, "doc");
    assert_eq!(meta.bytes, 8);
    assert_eq!(meta.log_bytes, 8);
    assert_eq!(meta.log_records, 2);
    assert_eq!(meta.last_seq, Seq(2));
    assert!(meta.updated_at >= before && meta.updated_at <= SystemTime::now());

    store.compact("doc", b"snapshot-of-8", Seq(1)).unwrap();
    let meta = store.metadata("doc").unwrap().unwrap();
    assert_eq!(meta.log_records, 1);
    assert_eq!(meta.log_bytes, 3);
    assert_eq!(meta.bytes, 13 + 3);
    assert_eq!(store.list().unwrap(), vec![meta]);
}

pub fn list_is_sorted_and_pages(store: &dyn TestStore) {
    for id in ["delta", "alpha", "charlie", "bravo", "echo"] {
        store.append(id, id.as_bytes()).unwrap();
    }
    let ids =
        |metas: Vec<storage::DocMeta>| metas.into_iter().map(|meta| meta.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list().unwrap()),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(ids(store.list_page(None, 2).unwrap()), ["alpha", "bravo"]);
    assert_eq!(
        ids(store.list_page(Some("bravo"), 2).unwrap()),
        ["charlie", "delta"]
    );
    assert_eq!(ids(store.list_page(Some("delta"), 2).unwrap()), ["echo"]);
    assert!(store.list_page(Some("echo"), 2).unwrap().is_empty());
    // A cursor need not be an existing id.
    assert_eq!(ids(store.list_page(Some("b"), 1).unwrap()), ["bravo"]);
    assert!(store.list_page(None, 0).unwrap().is_empty());
}

pub fn delete_removes_everything(store: &dyn TestStore) {
    append_numbered(store, "doomed", "u", 3);
    store.compact("doomed", b"snap", Seq(2)).unwrap();
    store.append("kept", b"k").unwrap();
    assert!(store.delete("doomed").unwrap());
    assert_eq!(store.load("doomed").unwrap(), LoadedDoc::default());
    assert_eq!(store.metadata("doomed").unwrap(), None);
    assert!(!store.delete("doomed").unwrap());
    assert!(!store.delete("never-existed").unwrap());
    let remaining: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|meta| meta.id)
        .collect();
    assert_eq!(remaining, ["kept"]);
    assert_eq!(
        update_payloads(&store.load("kept").unwrap()),
        vec![b"k".to_vec()]
    );
}

pub fn recreated_document_starts_fresh(store: &dyn TestStore) {
    append_numbered(store, "doc", "old", 3);
    store.compact("doc", b"old-snapshot", Seq(1)).unwrap();
    store.delete("doc").unwrap();
    let receipt = store.append("doc", b"new-1").unwrap();
    assert_eq!(
        receipt,
        AppendReceipt {
            seq: Seq(1),
            log_records: 1,
            log_bytes: 5,
            created: true,
        }
    );
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot, None);
    assert_eq!(update_payloads(&loaded), numbered("new", [1]));
}

pub fn invalid_ids_are_refused(store: &dyn TestStore) {
    let too_long = "x".repeat(513);
    for id in ["", "tab\there", "nul\0", too_long.as_str()] {
        assert!(
            matches!(store.load(id), Err(StoreError::InvalidDocumentId(_))),
            "load {id:?}"
        );
        assert!(matches!(
            store.append(id, b"u"),
            Err(StoreError::InvalidDocumentId(_))
        ));
        assert!(matches!(
            store.compact(id, b"s", Seq::ZERO),
            Err(StoreError::InvalidDocumentId(_))
        ));
        assert!(matches!(
            store.metadata(id),
            Err(StoreError::InvalidDocumentId(_))
        ));
        assert!(matches!(
            store.delete(id),
            Err(StoreError::InvalidDocumentId(_))
        ));
    }
    assert!(matches!(
        store.append("", b"u"),
        Err(StoreError::InvalidDocumentId(InvalidDocumentId::Empty))
    ));
    assert!(store.list().unwrap().is_empty());
}

pub fn concurrent_appends_get_distinct_seqs(store: &dyn TestStore) {
    const THREADS: u64 = 4;
    const APPENDS_PER_THREAD: u64 = 50;
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for number in 0..APPENDS_PER_THREAD {
                    store
                        .append("shared", format!("{thread}:{number}").as_bytes())
                        .unwrap();
                    store.append(&format!("own-{thread}"), b"x").unwrap();
                }
            });
        }
    });
    let loaded = store.load("shared").unwrap();
    let total = THREADS * APPENDS_PER_THREAD;
    assert_eq!(loaded.corruption, None);
    assert_eq!(loaded.last_seq, Seq(total));
    let seqs: Vec<u64> = loaded.updates.iter().map(|update| update.seq.0).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    // Each thread's own appends stay in the order it made them.
    for thread in 0..THREADS {
        let mine: Vec<Vec<u8>> = update_payloads(&loaded)
            .into_iter()
            .filter(|payload| payload.starts_with(format!("{thread}:").as_bytes()))
            .collect();
        let expected: Vec<Vec<u8>> = (0..APPENDS_PER_THREAD)
            .map(|number| format!("{thread}:{number}").into_bytes())
            .collect();
        assert_eq!(mine, expected);
        assert_eq!(
            store
                .metadata(&format!("own-{thread}"))
                .unwrap()
                .unwrap()
                .log_records,
            APPENDS_PER_THREAD
        );
    }
}

/// Several appends in one call land as the same appends one by one would, across documents.
pub fn append_many_matches_appending_one_by_one(store: &dyn TestStore) {
    store.append("a", b"earlier").unwrap();
    let results = store.append_many(&[("a", b"one"), ("b", b"two"), ("a", b"three"), ("c", b"")]);
    let receipts: Vec<AppendReceipt> = results.into_iter().map(Result::unwrap).collect();
    let expected = |seq, log_records, log_bytes| AppendReceipt {
        seq: Seq(seq),
        log_records,
        log_bytes,
        // Only "b" and "c" are new, and each gets one append.
        created: seq == 1,
    };
    assert_eq!(
        receipts,
        vec![
            expected(2, 2, 10),
            expected(1, 1, 3),
            expected(3, 3, 15),
            expected(1, 1, 0)
        ]
    );
    assert_eq!(
        update_payloads(&store.load("a").unwrap()),
        vec![b"earlier".to_vec(), b"one".to_vec(), b"three".to_vec()]
    );
    assert_eq!(
        update_payloads(&store.load("b").unwrap()),
        vec![b"two".to_vec()]
    );
    assert_eq!(store.metadata("c").unwrap().unwrap().log_records, 1);
    // And later single appends continue the same logs.
    assert_eq!(store.append("a", b"four").unwrap().seq, Seq(4));
}

/// An append refused on its own fails alone: the others land, and nothing is created for it.
pub fn append_many_refuses_a_bad_append_alone(store: &dyn TestStore) {
    let results = store.append_many(&[("good", b"1"), ("bad\0id", b"2"), ("good", b"3")]);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(matches!(results[1], Err(StoreError::InvalidDocumentId(_))));
    assert_eq!(
        update_payloads(&store.load("good").unwrap()),
        vec![b"1".to_vec(), b"3".to_vec()]
    );
    let ids: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|meta| meta.id)
        .collect();
    assert_eq!(ids, vec!["good".to_owned()]);
    assert!(store.append_many(&[]).is_empty());
}
