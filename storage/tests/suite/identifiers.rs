//! Document ids that could collide under a naive key layout.

use storage::{MAX_DOCUMENT_ID_BYTES, Seq};

use crate::fixtures::{TestStore, update_payloads};

pub fn slashes_and_unicode_round_trip(store: &dyn TestStore) {
    let ids = [
        "team/notes/2024",
        "/leading",
        "trailing/",
        "笔记/📝",
        "naïve café",
        "a b",
    ];
    for id in ids {
        store.append(id, id.as_bytes()).unwrap();
    }
    for id in ids {
        assert_eq!(
            update_payloads(&store.load(id).unwrap()),
            vec![id.as_bytes().to_vec()]
        );
        assert_eq!(store.metadata(id).unwrap().unwrap().id, id);
    }
    let mut sorted = ids.map(str::to_owned).to_vec();
    sorted.sort();
    let listed: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|meta| meta.id)
        .collect();
    assert_eq!(listed, sorted);
}

pub fn prefix_like_ids_do_not_mix(store: &dyn TestStore) {
    let ids = ["a", "ab", "a/b", "a/", "a/b/c", "b"];
    for id in ids {
        for round in 1..=3 {
            store
                .append(id, format!("{id}#{round}").as_bytes())
                .unwrap();
        }
    }
    // Compacting one and deleting another must not touch their neighbours.
    store.compact("a", b"a-snapshot", Seq(2)).unwrap();
    assert!(store.delete("a/b").unwrap());
    for id in ids {
        let loaded = store.load(id).unwrap();
        let payloads = update_payloads(&loaded);
        match id {
            "a/b" => assert!(payloads.is_empty() && loaded.snapshot.is_none()),
            "a" => {
                assert_eq!(loaded.snapshot.as_deref(), Some(&b"a-snapshot"[..]));
                assert_eq!(payloads, vec![b"a#3".to_vec()]);
            }
            _ => {
                let expected: Vec<Vec<u8>> = (1..=3)
                    .map(|round| format!("{id}#{round}").into_bytes())
                    .collect();
                assert_eq!(payloads, expected, "document {id:?}");
                assert_eq!(store.metadata(id).unwrap().unwrap().log_records, 3);
            }
        }
    }
    let listed: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|meta| meta.id)
        .collect();
    assert_eq!(listed, ["a", "a/", "a/b/c", "ab", "b"]);
}

pub fn longest_id_works(store: &dyn TestStore) {
    // Multi-byte characters: 128 four-byte characters is exactly 512 bytes.
    let id = "🦀".repeat(MAX_DOCUMENT_ID_BYTES / 4);
    assert_eq!(id.len(), MAX_DOCUMENT_ID_BYTES);
    store.append(&id, b"u").unwrap();
    assert_eq!(store.load(&id).unwrap().updates.len(), 1);
    assert!(store.delete(&id).unwrap());
}
