//! sled's append log across reopens: what replay rebuilds, what it must not bring back, and that
//! segments go once nothing in them is needed.

use std::path::{Path, PathBuf};

use storage::{AppendLogLimits, DocStore, Seq, SledStore};

use crate::fixtures::{folding_limits, numbered, update_payloads};

const CACHE_BYTES: u64 = 8 << 20;

fn open(directory: &Path, limits: AppendLogLimits) -> SledStore {
    SledStore::open_with_limits(directory, CACHE_BYTES, limits).expect("open sled store")
}

fn segments(directory: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(directory.join("appends"))
        .expect("the append log's directory")
        .map(|item| item.unwrap().path())
        .collect();
    paths.sort();
    paths
}

fn append_range(store: &SledStore, doc: &str, numbers: std::ops::RangeInclusive<u64>) {
    for number in numbers {
        store
            .append(doc, format!("u-{number}").as_bytes())
            .expect("append");
    }
}

/// Flushed appends load back after a reopen with the same seqs and the same metadata, and
/// appending goes on from the next seq.
#[test]
fn flushed_appends_and_their_counts_survive_a_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let before = {
        let store = open(directory.path(), AppendLogLimits::default());
        append_range(&store, "doc", 1..=5);
        store.compact("doc", b"snapshot", Seq(2)).unwrap();
        append_range(&store, "doc", 6..=7);
        append_range(&store, "other", 1..=1);
        store.flush().unwrap();
        store.metadata("doc").unwrap().unwrap()
    };
    let store = open(directory.path(), AppendLogLimits::default());
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot"[..]));
    assert_eq!(update_payloads(&loaded), numbered("u", 3..=7));
    assert_eq!(loaded.corruption, None);
    let after = store.metadata("doc").unwrap().unwrap();
    assert_eq!(
        (
            after.last_seq,
            after.log_records,
            after.log_bytes,
            after.bytes
        ),
        (
            before.last_seq,
            before.log_records,
            before.log_bytes,
            before.bytes
        )
    );
    assert_eq!(after.updated_at, before.updated_at);
    assert_eq!(store.append("doc", b"u-8").unwrap().seq, Seq(8));
    assert_eq!(
        update_payloads(&store.load("other").unwrap()),
        numbered("u", 1..=1)
    );
}

/// A torn tail (the end of the last segment cut anywhere, or garbage written after it) loses only
/// the frames it touches; everything before loads, and appends after the reopen continue and
/// survive the next reopen.
#[test]
fn a_torn_tail_loses_only_what_it_touches() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = open(directory.path(), AppendLogLimits::default());
        append_range(&store, "doc", 1..=3);
        store.flush().unwrap();
    }
    let last = segments(directory.path()).pop().unwrap();
    let whole = std::fs::read(&last).unwrap();
    // Cut into the middle of the third frame, then add garbage that looks like a length.
    std::fs::write(&last, &whole[..whole.len() - 5]).unwrap();
    let mut torn = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    std::io::Write::write_all(&mut torn, &[0, 0, 0, 40, 1, 2, 3]).unwrap();
    drop(torn);
    {
        let store = open(directory.path(), AppendLogLimits::default());
        let loaded = store.load("doc").unwrap();
        assert_eq!(update_payloads(&loaded), numbered("u", 1..=2));
        assert_eq!((loaded.last_seq, loaded.corruption), (Seq(2), None));
        assert_eq!(store.append("doc", b"u-3 again").unwrap().seq, Seq(3));
        store.flush().unwrap();
    }
    let store = open(directory.path(), AppendLogLimits::default());
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.updates.len(), 3);
    assert_eq!(loaded.updates[2].bytes, b"u-3 again");
    assert_eq!(loaded.corruption, None);
}

/// A deleted document does not come back from its frames after a reopen, neither alone nor under
/// a new document of the same id.
#[test]
fn deleted_documents_stay_deleted_after_a_reopen() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = open(directory.path(), AppendLogLimits::default());
        append_range(&store, "gone", 1..=3);
        append_range(&store, "again", 1..=3);
        store.flush().unwrap();
        assert!(store.delete("gone").unwrap());
        assert!(store.delete("again").unwrap());
        store.append("again", b"fresh").unwrap();
        store.flush().unwrap();
    }
    let store = open(directory.path(), AppendLogLimits::default());
    assert_eq!(store.metadata("gone").unwrap(), None);
    assert_eq!(store.load("gone").unwrap(), storage::LoadedDoc::default());
    let again = store.load("again").unwrap();
    assert_eq!(update_payloads(&again), vec![b"fresh".to_vec()]);
    assert_eq!(again.last_seq, Seq(1));
    assert_eq!(store.list().unwrap().len(), 1);
}

/// Segments whose frames a durable snapshot (or a deletion) covers are removed, so a store whose
/// documents compact keeps only the segment being written.
#[test]
fn segments_go_once_nothing_in_them_is_needed() {
    let directory = tempfile::tempdir().unwrap();
    let limits = AppendLogLimits {
        segment_bytes: 400,
        closed_segments: 1000,
    };
    let store = open(directory.path(), limits);
    append_range(&store, "doc", 1..=40);
    append_range(&store, "other", 1..=40);
    store.flush().unwrap();
    assert!(segments(directory.path()).len() > 5, "the log rolled over");
    store.compact("doc", b"all of doc", Seq(40)).unwrap();
    assert!(store.delete("other").unwrap());
    assert_eq!(
        segments(directory.path()).len(),
        1,
        "only the current segment"
    );
    drop(store);
    let store = open(directory.path(), limits);
    let loaded = store.load("doc").unwrap();
    assert_eq!(
        (loaded.snapshot.as_deref(), loaded.updates.len()),
        (Some(&b"all of doc"[..]), 0)
    );
    // The reopened store writes a new segment; the old one, with nothing live, is gone.
    assert_eq!(segments(directory.path()).len(), 1);
}

/// A document that never compacts does not pin the log: maintenance folds its oldest frames
/// into sled, old segments go, and everything loads in order before and after a reopen.
#[test]
fn folding_bounds_the_log_and_loses_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let limits = AppendLogLimits {
        segment_bytes: 400,
        closed_segments: 2,
    };
    {
        let store = open(directory.path(), limits);
        for number in 1..=120 {
            store
                .append("doc", format!("u-{number}").as_bytes())
                .unwrap();
            store.flush().unwrap();
            store.maintain().unwrap();
            assert!(segments(directory.path()).len() <= limits.closed_segments + 2);
        }
        assert_eq!(
            update_payloads(&store.load("doc").unwrap()),
            numbered("u", 1..=120)
        );
        assert_eq!(store.metadata("doc").unwrap().unwrap().log_records, 120);
    }
    let store = open(directory.path(), limits);
    let loaded = store.load("doc").unwrap();
    assert_eq!(update_payloads(&loaded), numbered("u", 1..=120));
    assert_eq!(loaded.corruption, None);
    assert_eq!(store.metadata("doc").unwrap().unwrap().log_records, 120);
    store.compact("doc", b"s", Seq(100)).unwrap();
    assert_eq!(
        update_payloads(&store.load("doc").unwrap()),
        numbered("u", 101..=120)
    );
    assert_eq!(store.metadata("doc").unwrap().unwrap().log_records, 20);
}

/// Folding every few appends (the suite's folding store) and reopening in between never changes
/// what loads.
#[test]
fn reopening_a_folding_store_loads_the_same() {
    let directory = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for round in 0..4u64 {
        let store = open(directory.path(), folding_limits());
        for number in 1..=15 {
            let payload = format!("r{round}-{number}").into_bytes();
            store.append("doc", &payload).unwrap();
            expected.push(payload);
        }
        if round == 1 {
            store.compact("doc", b"snap", Seq(20)).unwrap();
            expected.drain(..20);
        }
        store.flush().unwrap();
        assert_eq!(update_payloads(&store.load("doc").unwrap()), expected);
    }
    let store = open(directory.path(), folding_limits());
    let loaded = store.load("doc").unwrap();
    assert_eq!(update_payloads(&loaded), expected);
    assert_eq!(loaded.snapshot_through, Seq(20));
    assert_eq!(loaded.last_seq, Seq(60));
}

/// A flush leaves folding to maintenance, so no batch waits for it, until closed segments pile
/// up to twice the limit: then the flush folds them itself, and the log stays bounded.
#[test]
fn a_flush_folds_only_the_backlog_maintenance_left() {
    let directory = tempfile::tempdir().unwrap();
    let limits = AppendLogLimits {
        segment_bytes: 400,
        closed_segments: 2,
    };
    let store = open(directory.path(), limits);
    let mut most_segments = 0;
    for number in 1..=120 {
        store
            .append("doc", format!("u-{number}").as_bytes())
            .unwrap();
        store.flush().unwrap();
        most_segments = most_segments.max(segments(directory.path()).len());
    }
    assert!(most_segments > limits.closed_segments + 1);
    assert!(most_segments <= 2 * limits.closed_segments + 1);
    assert_eq!(
        update_payloads(&store.load("doc").unwrap()),
        numbered("u", 1..=120)
    );
}
