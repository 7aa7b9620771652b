//! What only an on-disk store has: persistence across reopen (versions
//! included), exclusive ownership of the data directory, and the layout
//! version marker and key shapes.

use std::time::{Duration, Instant};

use storage::{DocStore, LAYOUT_VERSION, Seq, SledStore, StoreError, VersionId};

use crate::fixtures::{append_numbered, numbered, update_payloads};

#[test]
fn reopen_keeps_flushed_data() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(directory.path()).unwrap();
        for id in ["doc", "a/b", "笔记"] {
            for number in 1..=4 {
                store.append(id, format!("u-{number}").as_bytes()).unwrap();
            }
        }
        store.compact("doc", b"snapshot", Seq(2)).unwrap();
        store.append("doc", b"u-5").unwrap();
        store.delete("a/b").unwrap();
        store.create("rich", storage::DocumentKind::Rich).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(directory.path()).unwrap();
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot"[..]));
    assert_eq!(update_payloads(&loaded), numbered("u", 3..=5));
    assert_eq!(
        update_payloads(&store.load("笔记").unwrap()),
        numbered("u", 1..=4)
    );
    assert_eq!(store.metadata("a/b").unwrap(), None);
    assert_eq!(
        store.metadata("rich").unwrap().unwrap().kind,
        storage::DocumentKind::Rich
    );
    // The seq counter survives too: no seq is ever handed out twice.
    assert_eq!(store.append("doc", b"u-6").unwrap().seq, Seq(6));
    let ids: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|meta| meta.id)
        .collect();
    assert_eq!(ids, ["doc", "rich", "笔记"]);
}

/// A page cache far smaller than the data still reads every document back whole.
#[test]
fn small_cache_still_reads_everything_back() {
    let directory = tempfile::tempdir().unwrap();
    let payload = |doc: usize| vec![u8::try_from(doc % 251).unwrap(); 64 * 1024];
    {
        let store = SledStore::open_with_cache(directory.path(), 256 * 1024).unwrap();
        for doc in 0..64 {
            store
                .compact(&format!("doc-{doc}"), &payload(doc), Seq::ZERO)
                .unwrap();
        }
        store.flush().unwrap();
    }
    let store = SledStore::open_with_cache(directory.path(), 256 * 1024).unwrap();
    for doc in 0..64 {
        let loaded = store.load(&format!("doc-{doc}")).unwrap();
        assert_eq!(
            loaded.snapshot.as_deref(),
            Some(&payload(doc)[..]),
            "doc-{doc}"
        );
    }
}

#[test]
fn second_open_of_a_directory_is_locked_not_hung() {
    let directory = tempfile::tempdir().unwrap();
    let first = SledStore::open(directory.path()).unwrap();
    let started = Instant::now();
    let error = SledStore::open(directory.path()).expect_err("second open must fail");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "open waited for the lock"
    );
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert!(error.to_string().contains("locked"));

    // Releasing the first store releases the directory.
    append_numbered(&first, "doc", "u", 1);
    drop(first);
    let reopened = SledStore::open(directory.path()).unwrap();
    assert_eq!(reopened.metadata("doc").unwrap().unwrap().last_seq, Seq(1));
}

/// Environment variable that turns `lock_probe_child` into a real probe.
const LOCK_PROBE_DIRECTORY: &str = "QUIRE_STORAGE_LOCK_PROBE_DIRECTORY";

/// Run by `second_process_gets_locked` as a separate process: tries to open
/// the directory it is given and prints the outcome. Without the variable
/// (a normal test run) it does nothing.
#[test]
fn lock_probe_child() {
    let Some(directory) = std::env::var_os(LOCK_PROBE_DIRECTORY) else {
        return;
    };
    match SledStore::open(std::path::Path::new(&directory)) {
        Ok(_) => println!("PROBE-OPENED"),
        Err(StoreError::Locked { .. }) => println!("PROBE-LOCKED"),
        Err(other) => println!("PROBE-ERROR {other:?}"),
    }
}

/// The case that matters in production: another *process* holds the
/// directory. The test binary re-runs itself with only `lock_probe_child`.
#[test]
fn second_process_gets_locked() {
    let directory = tempfile::tempdir().unwrap();
    let store = SledStore::open(directory.path()).unwrap();
    let probe = |directory: &std::path::Path| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sled_only::lock_probe_child", "--nocapture"])
            .env(LOCK_PROBE_DIRECTORY, directory)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("the probe process hung on a locked directory");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let output = probe(directory.path());
    assert!(output.contains("PROBE-LOCKED"), "{output}");
    drop(store);
    let output = probe(directory.path());
    assert!(output.contains("PROBE-OPENED"), "{output}");
}

/// If something opened sled's own directory without going through our lock
/// file, sled's lock conflict is still reported as `Locked`, after a bounded
/// grace period rather than a hang.
#[test]
fn sled_lock_conflict_maps_to_locked() {
    let directory = tempfile::tempdir().unwrap();
    let raw = sled::open(directory.path().join("sled")).unwrap();
    let started = Instant::now();
    let error = SledStore::open(directory.path()).expect_err("sled's lock is held");
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "open waited too long"
    );
    drop(raw);
}

/// Documents what sled 0.34 itself does, which the store's own lock file
/// pre-empts: a second open of the same sled directory in one process fails
/// immediately with a generic I/O error rather than blocking.
#[test]
fn sled_itself_refuses_a_second_open_with_an_io_error() {
    let directory = tempfile::tempdir().unwrap();
    let first = sled::open(directory.path()).unwrap();
    let error = sled::open(directory.path()).expect_err("sled must refuse");
    assert!(matches!(error, sled::Error::Io(_)), "{error:?}");
    assert!(
        error.to_string().contains("could not acquire lock"),
        "{error}"
    );
    drop(first);
}

/// Opens sled directly, retrying while a just-dropped instance's background
/// tasks still hold sled's file lock (the same grace `SledStore` allows).
fn open_raw_sled(path: &std::path::Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(database) => return database,
            Err(error) if Instant::now() < deadline => {
                assert!(
                    error.to_string().contains("could not acquire lock"),
                    "{error}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => panic!("sled did not release its lock: {error}"),
        }
    }
}

/// Writes `marker` as the layout version through raw sled, then reopens.
/// The directory is returned too so it outlives any store that opened.
fn open_with_format_marker(marker: &[u8]) -> (tempfile::TempDir, Result<SledStore, StoreError>) {
    let directory = tempfile::tempdir().unwrap();
    drop(SledStore::open(directory.path()).unwrap());
    {
        let database = open_raw_sled(&directory.path().join("sled"));
        database.insert("format", marker).unwrap();
        database.flush().unwrap();
    }
    let result = SledStore::open(directory.path());
    (directory, result)
}

#[test]
fn unsupported_layout_version_is_refused() {
    let (_directory, result) = open_with_format_marker(&(LAYOUT_VERSION + 1).to_be_bytes());
    let error = result.expect_err("open must fail");
    assert!(
        matches!(error, StoreError::UnsupportedFormat { found, supported } if found == LAYOUT_VERSION + 1 && supported == LAYOUT_VERSION),
        "{error:?}"
    );
    let (_directory, result) = open_with_format_marker(b"v1");
    let error = result.expect_err("open must fail");
    assert!(
        matches!(error, StoreError::UnreadableFormat { length: 2 }),
        "{error:?}"
    );
}

#[test]
fn current_layout_version_reopens() {
    let (_directory, result) = open_with_format_marker(&LAYOUT_VERSION.to_be_bytes());
    assert!(result.is_ok());
}

#[test]
fn missing_data_directory_is_created() {
    let parent = tempfile::tempdir().unwrap();
    let directory = parent.path().join("nested").join("data");
    let store = SledStore::open(&directory).unwrap();
    assert_eq!(store.directory(), directory);
    assert!(directory.join("quire.lock").is_file());
    assert!(directory.join("sled").is_dir());
}

#[test]
fn store_is_usable_as_a_shared_trait_object() {
    let directory = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn DocStore> =
        std::sync::Arc::new(SledStore::open(directory.path()).unwrap());
    let clone = std::sync::Arc::clone(&store);
    std::thread::spawn(move || clone.append("doc", b"from another thread").unwrap())
        .join()
        .unwrap();
    assert_eq!(store.load("doc").unwrap().updates.len(), 1);
}

#[test]
fn versions_survive_reopen_and_keep_counting() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(directory.path()).unwrap();
        append_numbered(&store, "doc", "u", 2);
        store.create_version("doc", "one", b"state-1").unwrap();
        store.create_version("doc", "two", b"state-2").unwrap();
        // create_version is durable on its own: no flush here.
    }
    let store = SledStore::open(directory.path()).unwrap();
    let labels: Vec<String> = store
        .list_versions("doc")
        .unwrap()
        .into_iter()
        .map(|version| version.label)
        .collect();
    assert_eq!(labels, ["one", "two"]);
    let (_, snapshot) = store.load_version("doc", VersionId(2)).unwrap().unwrap();
    assert_eq!(snapshot, b"state-2");
    assert_eq!(
        store.create_version("doc", "three", b"s").unwrap().id,
        VersionId(3)
    );
}

/// Versions add keys under the document's own prefix and nothing else: the
/// layout version stays 1, and a build without versions (which deletes
/// everything under the prefix and compacts only `'u'` keys) handles them.
/// (Update 2 is in the append log, not in sled, until a compaction or a fold.)
#[test]
fn versions_live_under_their_document_prefix() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(directory.path()).unwrap();
        append_numbered(&store, "doc", "u", 2);
        store.compact("doc", b"snapshot", Seq(1)).unwrap();
        store.create_version("doc", "one", b"state-1").unwrap();
    }
    let database = open_raw_sled(&directory.path().join("sled"));
    assert_eq!(
        database.get("format").unwrap().as_deref(),
        Some(&LAYOUT_VERSION.to_be_bytes()[..])
    );
    assert_eq!(LAYOUT_VERSION, 1);
    let documents = database.open_tree("documents").unwrap();
    let mut shapes: Vec<(u8, Option<u8>, usize)> = documents
        .iter()
        .keys()
        .map(|key| {
            let key = key.unwrap();
            (key[0], key.get(9).copied(), key.len())
        })
        .collect();
    shapes.sort();
    assert_eq!(
        shapes,
        [
            (b'd', Some(b's'), 10),
            (b'd', Some(b'v'), 18),
            (b'd', Some(b'w'), 18),
            (b'i', None, 4),
        ]
    );
}

/// The change log survives a reopen: events, pending changes, cursors and the numbering (even
/// with every event trimmed), so no event id is ever handed out twice.
#[test]
fn reopen_keeps_the_change_log() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(directory.path()).unwrap();
        let log = store.change_log().unwrap();
        log.append_events(&[b"1".to_vec(), b"2".to_vec()], None)
            .unwrap();
        log.trim_events(2).unwrap();
        log.append_events(&[b"3".to_vec()], None).unwrap();
        log.mark_pending(&[("doc", true)], 5).unwrap();
        log.set_delivered_through("hook", 3).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(directory.path()).unwrap();
    let log = store.change_log().unwrap();
    let events = log.events_after(0, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].sequence, &events[0].payload[..]), (3, &b"3"[..]));
    assert_eq!(log.pending_changes().unwrap()[0].mark, 5);
    assert_eq!(log.delivered_through("hook").unwrap(), Some(3));
    log.trim_events(3).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = SledStore::open(directory.path()).unwrap();
    let log = store.change_log().unwrap();
    assert_eq!(log.append_events(&[b"4".to_vec()], None).unwrap(), [4]);
}
