//! The change log's contract (`ChangeLog`): pending changes, events, trimming and cursors.

use storage::{ChangeLog, EventRange, PendingChange, PendingKind, Settle};

use crate::fixtures::TestStore;

fn log(store: &dyn TestStore) -> &dyn ChangeLog {
    store
        .change_log()
        .expect("every real store keeps a change log")
}

fn payloads(log: &dyn ChangeLog, after: u64) -> Vec<(u64, Vec<u8>)> {
    log.events_after(after, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|event| (event.sequence, event.payload))
        .collect()
}

/// Events are numbered from 1 in append order and read back after any cursor, a page at a time.
pub fn events_are_numbered_and_read_after_a_cursor(store: &dyn TestStore) {
    let log = log(store);
    assert_eq!(log.event_range().unwrap(), EventRange::default());
    assert_eq!(log.append_events(&[b"a".to_vec()], None).unwrap(), [1]);
    assert_eq!(
        log.append_events(&[b"b".to_vec(), b"c".to_vec()], None)
            .unwrap(),
        [2, 3]
    );
    assert_eq!(
        payloads(log, 0),
        [(1, b"a".to_vec()), (2, b"b".to_vec()), (3, b"c".to_vec())]
    );
    assert_eq!(payloads(log, 2), [(3, b"c".to_vec())]);
    assert!(payloads(log, 3).is_empty());
    let page = log.events_after(0, 2).unwrap();
    assert_eq!(page.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        log.event_range().unwrap(),
        EventRange {
            trimmed_through: 0,
            last: 3
        }
    );
}

fn settle(document: &str, mark: u64) -> Option<Settle<'_>> {
    Some(Settle {
        kind: PendingKind::Change,
        document,
        mark,
    })
}

fn change(document: &str, created: bool, deleted: bool, mark: u64) -> PendingChange {
    PendingChange {
        document: document.to_owned(),
        kind: PendingKind::Change,
        created,
        deleted,
        mark,
    }
}

/// A pending change keeps "created" once set, takes the newest mark, and is settled only by
/// the mark it still has.
pub fn pending_changes_settle_only_with_their_mark(store: &dyn TestStore) {
    let log = log(store);
    log.mark_pending(&[("doc", true), ("other", false)], 7)
        .unwrap();
    log.mark_pending(&[("doc", false)], 8).unwrap();
    assert_eq!(
        log.pending_changes().unwrap(),
        [
            change("doc", true, false, 8),
            change("other", false, false, 7)
        ]
    );
    // Settling with the old mark appends the event but leaves the newer change pending.
    log.append_events(&[b"x".to_vec()], settle("doc", 7))
        .unwrap();
    assert_eq!(log.pending_changes().unwrap().len(), 2);
    log.append_events(&[b"y".to_vec()], settle("doc", 8))
        .unwrap();
    let left: Vec<String> = log
        .pending_changes()
        .unwrap()
        .into_iter()
        .map(|change| change.document)
        .collect();
    assert_eq!(left, ["other"]);
    assert_eq!(payloads(log, 0).len(), 2);
}

/// A deletion marks the document's change pending with "deleted" (keeping "created"); a version
/// has a mark of its own, which settling the change leaves alone.
pub fn deletions_and_versions_are_marked_too(store: &dyn TestStore) {
    let log = log(store);
    log.mark_pending(&[("doc", true)], 1).unwrap();
    log.mark_deleting("doc", 2).unwrap();
    log.mark_versioning("doc", 3).unwrap();
    let version = PendingChange {
        document: "doc".to_owned(),
        kind: PendingKind::Version,
        created: false,
        deleted: false,
        mark: 3,
    };
    assert_eq!(
        log.pending_changes().unwrap(),
        [change("doc", true, true, 2), version.clone()]
    );
    log.append_events(&[b"deleted".to_vec()], settle("doc", 2))
        .unwrap();
    assert_eq!(log.pending_changes().unwrap(), [version]);
    let versioned = Settle {
        kind: PendingKind::Version,
        document: "doc",
        mark: 3,
    };
    log.append_events(&[], Some(versioned)).unwrap();
    assert!(log.pending_changes().unwrap().is_empty());
    assert_eq!(payloads(log, 0), [(1, b"deleted".to_vec())]);
}

/// Trimming drops old events but never the numbering: later events continue the sequence, and
/// trimming less than before or past the end is harmless.
pub fn trimming_keeps_the_numbering(store: &dyn TestStore) {
    let log = log(store);
    for payload in [b"1", b"2", b"3", b"4"] {
        log.append_events(&[payload.to_vec()], None).unwrap();
    }
    log.trim_events(2).unwrap();
    log.trim_events(1).unwrap();
    assert_eq!(
        log.event_range().unwrap(),
        EventRange {
            trimmed_through: 2,
            last: 4
        }
    );
    assert_eq!(payloads(log, 0), [(3, b"3".to_vec()), (4, b"4".to_vec())]);
    log.trim_events(99).unwrap();
    assert!(payloads(log, 0).is_empty());
    assert_eq!(log.append_events(&[b"5".to_vec()], None).unwrap(), [5]);
    assert_eq!(
        log.event_range().unwrap(),
        EventRange {
            trimmed_through: 4,
            last: 5
        }
    );
}

/// Each subscriber's cursor is its own, and a new subscriber has none.
pub fn delivery_cursors_are_per_subscriber(store: &dyn TestStore) {
    let log = log(store);
    assert_eq!(log.delivered_through("https://a.example/").unwrap(), None);
    log.set_delivered_through("https://a.example/", 12).unwrap();
    log.set_delivered_through("https://b.example/", 3).unwrap();
    log.set_delivered_through("https://a.example/", 13).unwrap();
    assert_eq!(
        log.delivered_through("https://a.example/").unwrap(),
        Some(13)
    );
    assert_eq!(
        log.delivered_through("https://b.example/").unwrap(),
        Some(3)
    );
    log.set_delivered_through("https://c.example/", 0).unwrap();
    assert_eq!(
        log.delivered_through("https://c.example/").unwrap(),
        Some(0)
    );
}
