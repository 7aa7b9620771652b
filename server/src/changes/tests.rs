//! The journal's side of the group commit: which documents of a batch get a durable mark.

use std::sync::Arc;
use std::time::Duration;

use storage::{DocStore, MemoryStore, PendingChange, PendingKind};

use super::ChangeJournal;

fn journal() -> (Arc<MemoryStore>, Arc<ChangeJournal>) {
    let store = Arc::new(MemoryStore::default());
    let journal = ChangeJournal::open(store.clone(), Duration::from_secs(2)).unwrap();
    (store, journal)
}

fn marked(store: &MemoryStore) -> Vec<(String, bool)> {
    let mut pending: Vec<(String, bool)> = store
        .change_log()
        .unwrap()
        .pending_changes()
        .unwrap()
        .into_iter()
        .map(
            |PendingChange {
                 document, created, ..
             }| (document, created),
        )
        .collect();
    pending.sort();
    pending
}

#[test]
fn a_batch_marks_each_document_once_and_an_open_window_needs_no_new_mark() {
    let (store, journal) = journal();
    let batch = [
        (Arc::from("a"), false),
        (Arc::from("a"), true),
        (Arc::from("b"), false),
    ];
    let first = journal.mark(&batch).unwrap();
    assert_eq!(first.documents.len(), 2);
    assert_eq!(
        marked(&store),
        [("a".to_owned(), true), ("b".to_owned(), false)]
    );
    journal.durable(first);

    // Windows are open now: more updates to them write nothing.
    let again = journal.mark(&[(Arc::from("a"), false)]).unwrap();
    assert!(again.documents.is_empty());
    // A creation is always marked (the document was deleted and made again).
    let recreated = journal.mark(&[(Arc::from("b"), true)]).unwrap();
    assert_eq!(recreated.documents, [(Arc::from("b"), true)]);
    assert_eq!(
        marked(&store),
        [("a".to_owned(), true), ("b".to_owned(), true)]
    );
}

#[test]
fn intents_are_marked_and_withdrawn() {
    let (store, journal) = journal();
    let mark = journal.intend(PendingKind::Version, "doc").unwrap();
    let log = store.change_log().unwrap();
    assert_eq!(log.pending_changes().unwrap()[0].kind, PendingKind::Version);
    journal.withdraw(PendingKind::Version, "doc", mark);
    assert!(log.pending_changes().unwrap().is_empty());
}
