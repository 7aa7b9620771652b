//! What only the PostgreSQL store has: other stores (other nodes) on the same database, group
//! commit as transactions, a server that restarts under it, migrations and damaged rows.
//!
//! Two `PostgresStore`s on one database stand for two Quire nodes: they share nothing but the
//! database, as separate processes would.

use std::time::Duration;

use postgres::{Client, NoTls};
use storage::testing::postgres::{PostgresCluster, fresh_database_url};
use storage::{DocStore, DocumentKind, LoadedDoc, PostgresStore, Seq, StoreError};

use crate::fixtures::update_payloads;

fn connect(url: &str) -> PostgresStore {
    PostgresStore::connect(url).expect("connect PostgreSQL store")
}

fn sql(url: &str) -> Client {
    Client::connect(url, NoTls).expect("connect with SQL")
}

fn seqs(loaded: &LoadedDoc) -> Vec<u64> {
    loaded.updates.iter().map(|update| update.seq.0).collect()
}

#[test]
fn appends_are_invisible_to_other_nodes_until_flush() {
    let url = fresh_database_url();
    let (writer, other) = (connect(&url), connect(&url));
    writer.append("doc", b"one").unwrap();
    writer.append_many(&[("doc", b"two"), ("new", b"three")]);
    // Visible through the store that appended, at once...
    assert_eq!(writer.load("doc").unwrap().updates.len(), 2);
    assert_eq!(writer.list().unwrap().len(), 2);
    // ...but not committed, so not to another node, which does not wait for them either.
    assert_eq!(other.load("doc").unwrap(), LoadedDoc::default());
    assert!(other.list().unwrap().is_empty());
    writer.flush().unwrap();
    assert_eq!(
        update_payloads(&other.load("doc").unwrap()),
        [b"one".to_vec(), b"two".to_vec()]
    );
    assert_eq!(other.metadata("new").unwrap().unwrap().last_seq, Seq(1));
}

#[test]
fn one_flush_commits_a_batch_in_one_transaction() {
    let url = fresh_database_url();
    let store = connect(&url);
    let payloads: Vec<Vec<u8>> = (0..500).map(|n| format!("u{n}").into_bytes()).collect();
    let appends: Vec<(&str, &[u8])> = payloads
        .iter()
        .enumerate()
        .map(|(n, payload)| (["a", "b", "c"][n % 3], payload.as_slice()))
        .collect();
    assert!(store.append_many(&appends).iter().all(Result::is_ok));
    store.append("a", b"one more").unwrap();
    store.flush().unwrap();
    let mut client = sql(&url);
    let transactions: i64 = client
        .query_one("SELECT count(DISTINCT xmin::text) FROM updates", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        transactions, 1,
        "every append since the last flush commits together"
    );
    let rows: i64 = client
        .query_one("SELECT count(*) FROM updates", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 501);
}

#[test]
fn two_nodes_appending_to_one_document_get_gapless_distinct_seqs() {
    const BATCHES: usize = 40;
    let url = fresh_database_url();
    let nodes = [connect(&url), connect(&url)];
    std::thread::scope(|scope| {
        for (node_index, node) in nodes.iter().enumerate() {
            scope.spawn(move || {
                for batch in 0..BATCHES {
                    let first = format!("{node_index}:{batch}:a");
                    let second = format!("{node_index}:{batch}:b");
                    let receipts = node.append_many(&[
                        ("shared", first.as_bytes()),
                        (&format!("own-{node_index}"), b"x"),
                        ("shared", second.as_bytes()),
                    ]);
                    let seqs: Vec<Seq> = receipts.into_iter().map(|r| r.unwrap().seq).collect();
                    assert_eq!(seqs[2].0, seqs[0].0 + 1, "one batch's seqs are consecutive");
                    node.flush().unwrap();
                }
            });
        }
    });
    let loaded = connect(&url).load("shared").unwrap();
    let total = (2 * 2 * BATCHES) as u64;
    assert_eq!(loaded.corruption, None);
    assert_eq!(seqs(&loaded), (1..=total).collect::<Vec<_>>());
    for node_index in 0..2 {
        let mine: Vec<Vec<u8>> = update_payloads(&loaded)
            .into_iter()
            .filter(|payload| payload.starts_with(format!("{node_index}:").as_bytes()))
            .collect();
        let expected: Vec<Vec<u8>> = (0..BATCHES)
            .flat_map(|batch| {
                ["a", "b"].map(|part| format!("{node_index}:{batch}:{part}").into_bytes())
            })
            .collect();
        assert_eq!(
            mine, expected,
            "node {node_index}'s updates all load, in order"
        );
    }
}

#[test]
fn compaction_on_one_node_keeps_what_another_appends_meanwhile() {
    const APPENDS: u64 = 150;
    let url = fresh_database_url();
    let (appender, compactor) = (connect(&url), connect(&url));
    appender.append("doc", b"0").unwrap();
    appender.flush().unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for number in 1..=APPENDS {
                appender
                    .append("doc", number.to_string().as_bytes())
                    .unwrap();
                appender.flush().unwrap();
            }
        });
        scope.spawn(|| {
            for _ in 0..30 {
                // The "snapshot" is the list of payloads merged so far, as the server would
                // merge updates into a Yjs state.
                let loaded = compactor.load("doc").unwrap();
                let mut merged = loaded.snapshot.clone().unwrap_or_default();
                for update in &loaded.updates {
                    merged.extend_from_slice(&update.bytes);
                    merged.push(b',');
                }
                compactor.compact("doc", &merged, loaded.last_seq).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
    });
    let loaded = compactor.load("doc").unwrap();
    assert_eq!(loaded.corruption, None);
    let mut everything = String::from_utf8(loaded.snapshot.unwrap_or_default()).unwrap();
    for update in &loaded.updates {
        everything.push_str(std::str::from_utf8(&update.bytes).unwrap());
        everything.push(',');
    }
    let expected: String = (0..=APPENDS).map(|number| format!("{number},")).collect();
    assert_eq!(everything, expected);
    assert_eq!(loaded.last_seq, Seq(APPENDS + 1));
}

#[test]
fn deletion_and_creation_are_seen_across_nodes() {
    let url = fresh_database_url();
    let (first, second) = (connect(&url), connect(&url));
    first.append("doc", b"u").unwrap();
    first.create_version("doc", "v", b"state").unwrap();
    assert_eq!(second.load("doc").unwrap().updates.len(), 1);
    assert!(second.delete("doc").unwrap());
    assert_eq!(first.load("doc").unwrap(), LoadedDoc::default());
    assert!(first.list_versions("doc").unwrap().is_empty());
    assert!(!first.delete("doc").unwrap());
    assert!(first.create("doc", DocumentKind::Rich).unwrap());
    assert!(!second.create("doc", DocumentKind::Text).unwrap());
    assert_eq!(
        second.metadata("doc").unwrap().unwrap().kind,
        DocumentKind::Rich
    );
    assert_eq!(second.append("doc", b"again").unwrap().seq, Seq(1));
}

#[test]
fn operations_fail_while_postgres_is_down_and_work_once_it_is_back() {
    let cluster = PostgresCluster::start_new();
    let url = cluster.create_database();
    let store = connect(&url);
    store.append("doc", b"before").unwrap();
    store.flush().unwrap();
    // Appended, not flushed: lost with the server.
    store.append("doc", b"in flight").unwrap();

    cluster.stop();
    let is_postgres =
        |result: Result<(), StoreError>| matches!(result, Err(StoreError::Postgres(_)));
    assert!(is_postgres(store.append("doc", b"while down").map(drop)));
    assert!(
        is_postgres(store.flush()),
        "the flush reports that the appends before the failure are lost"
    );
    for _ in 0..3 {
        assert!(is_postgres(store.append("doc", b"while down").map(drop)));
        assert!(is_postgres(store.load("doc").map(drop)));
        assert!(is_postgres(store.check_reachable()));
    }
    // Those appends failed to their callers; nothing since the last report is pending.
    store.flush().unwrap();

    cluster.start();
    store.check_reachable().unwrap();
    // The same store object, reconnecting by itself.
    assert_eq!(store.append("doc", b"after").unwrap().seq, Seq(2));
    store.flush().unwrap();
    let loaded = connect(&url).load("doc").unwrap();
    assert_eq!(
        update_payloads(&loaded),
        [b"before".to_vec(), b"after".to_vec()]
    );
    assert_eq!(store.list().unwrap().len(), 1);

    // A loss noticed by an append rather than a flush: appends go on once the server is back,
    // and the next flush reports the loss and rolls back what was appended since.
    store.append("doc", b"lost").unwrap();
    cluster.stop();
    assert!(is_postgres(store.append("other", b"fails").map(drop)));
    cluster.start();
    assert_eq!(store.append("doc", b"rolled back").unwrap().seq, Seq(3));
    assert!(is_postgres(store.flush()));
    assert_eq!(store.append("doc", b"kept").unwrap().seq, Seq(3));
    store.flush().unwrap();
    assert_eq!(
        update_payloads(&connect(&url).load("doc").unwrap()),
        [b"before".to_vec(), b"after".to_vec(), b"kept".to_vec()]
    );
}

#[test]
fn migrations_are_idempotent_and_safe_when_nodes_start_together() {
    let url = fresh_database_url();
    std::thread::scope(|scope| {
        let nodes: Vec<_> = (0..4).map(|_| scope.spawn(|| connect(&url))).collect();
        for node in nodes {
            node.join().unwrap().append("doc", b"x").unwrap();
        }
    });
    let again = connect(&url);
    assert_eq!(again.metadata("doc").unwrap(), None, "nothing was flushed");
    let mut client = sql(&url);
    let versions: Vec<i32> = client
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [1]);

    client
        .execute("INSERT INTO schema_version (version) VALUES (99)", &[])
        .unwrap();
    assert!(matches!(
        PostgresStore::connect(&url),
        Err(StoreError::UnsupportedFormat {
            found: 99,
            supported: 1
        })
    ));
}

#[test]
fn a_row_with_impossible_values_is_a_corrupt_entry_not_a_panic() {
    let url = fresh_database_url();
    let store = connect(&url);
    store.append("doc", b"u").unwrap();
    store.append("neighbour", b"n").unwrap();
    store.flush().unwrap();
    let mut client = sql(&url);
    client
        .batch_execute(
            "ALTER TABLE documents DROP CONSTRAINT documents_log_bytes_check;
             UPDATE documents SET log_bytes = -5 WHERE id = 'doc'",
        )
        .unwrap();
    let corrupt = |result: Result<(), StoreError>| matches!(result, Err(StoreError::CorruptEntry { ref doc, .. }) if doc == "doc");
    assert!(corrupt(store.load("doc").map(drop)));
    assert!(corrupt(store.metadata("doc").map(drop)));
    assert!(corrupt(store.compact("doc", b"s", Seq(1))));
    assert!(corrupt(store.create_version("doc", "v", b"s").map(drop)));
    // An append to it is refused alone; the rest of the batch lands.
    let receipts = store.append_many(&[("doc", b"more"), ("neighbour", b"m")]);
    assert!(matches!(&receipts[0], Err(StoreError::CorruptEntry { doc, .. }) if doc == "doc"));
    assert_eq!(receipts[1].as_ref().unwrap().seq, Seq(2));
    store.flush().unwrap();
    let listed = store.list().unwrap();
    assert!(listed.iter().find(|meta| meta.id == "doc").unwrap().damaged);
    assert!(store.delete("doc").unwrap());
    assert_eq!(store.append("doc", b"fresh").unwrap().seq, Seq(1));
}
