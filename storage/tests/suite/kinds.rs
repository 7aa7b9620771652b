//! Document kinds: chosen at creation, kept through every later write, and
//! `text` for documents a first append created.

use storage::{DocumentKind, Seq, StoreError};

use crate::fixtures::{TestStore, update_payloads};

fn kind_of(store: &dyn TestStore, doc: &str) -> DocumentKind {
    store.metadata(doc).unwrap().expect("document exists").kind
}

pub fn created_document_is_empty_and_has_its_kind(store: &dyn TestStore) {
    assert!(store.create("notes", DocumentKind::Rich).unwrap());
    assert!(store.create("plain", DocumentKind::Text).unwrap());
    let meta = store.metadata("notes").unwrap().unwrap();
    assert_eq!(meta.kind, DocumentKind::Rich);
    assert_eq!((meta.bytes, meta.last_seq), (0, Seq::ZERO));
    assert!(store.load("notes").unwrap().updates.is_empty());
    assert_eq!(kind_of(store, "plain"), DocumentKind::Text);
    let listed: Vec<(String, DocumentKind)> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|meta| (meta.id, meta.kind))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("notes".to_owned(), DocumentKind::Rich),
            ("plain".to_owned(), DocumentKind::Text)
        ]
    );
}

pub fn documents_created_by_a_first_append_are_text(store: &dyn TestStore) {
    store.append("doc", b"one").unwrap();
    assert_eq!(kind_of(store, "doc"), DocumentKind::Text);
    store.compact("imported", b"snapshot", Seq::ZERO).unwrap();
    assert_eq!(kind_of(store, "imported"), DocumentKind::Text);
}

pub fn creating_an_existing_document_changes_nothing(store: &dyn TestStore) {
    store.append("doc", b"one").unwrap();
    assert!(!store.create("doc", DocumentKind::Rich).unwrap());
    assert_eq!(kind_of(store, "doc"), DocumentKind::Text);
    assert_eq!(
        update_payloads(&store.load("doc").unwrap()),
        vec![b"one".to_vec()]
    );

    assert!(store.create("rich", DocumentKind::Rich).unwrap());
    assert!(!store.create("rich", DocumentKind::Text).unwrap());
    assert_eq!(kind_of(store, "rich"), DocumentKind::Rich);
}

pub fn kind_survives_appends_compaction_and_versions(store: &dyn TestStore) {
    store.create("doc", DocumentKind::Rich).unwrap();
    store.append_many(&[("doc", b"one"), ("doc", b"two")]);
    store.append("doc", b"three").unwrap();
    store.compact("doc", b"snapshot", Seq(2)).unwrap();
    store.create_version("doc", "first", b"whole").unwrap();
    store.append("doc", b"four").unwrap();
    let meta = store.metadata("doc").unwrap().unwrap();
    assert_eq!((meta.kind, meta.last_seq), (DocumentKind::Rich, Seq(4)));
}

pub fn deleted_document_can_be_created_again_with_another_kind(store: &dyn TestStore) {
    store.create("doc", DocumentKind::Rich).unwrap();
    store.append("doc", b"one").unwrap();
    assert!(store.delete("doc").unwrap());
    assert!(store.create("doc", DocumentKind::Text).unwrap());
    assert_eq!(kind_of(store, "doc"), DocumentKind::Text);
    assert!(store.load("doc").unwrap().updates.is_empty());
}

pub fn create_refuses_invalid_ids(store: &dyn TestStore) {
    assert!(matches!(
        store.create("", DocumentKind::Rich),
        Err(StoreError::InvalidDocumentId(_))
    ));
    assert!(store.list().unwrap().is_empty());
}
