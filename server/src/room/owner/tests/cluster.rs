//! Rooms of two nodes over one shared store, linked only by what they publish, which the tests
//! deliver, delay or drop: publications leave only once durable, a missed one is read from the
//! store, compaction never drops what a room did not hold, and a room loading meanwhile misses
//! nothing.

use std::sync::Arc;

use crdt_core::Access;
use storage::{DocStore, MemoryStore, Seq};

use super::harness::{Harness, Seen};
use crate::cluster::{Announcement, ClusterMessage, NodeId, PeerEvent};

/// Two nodes' rooms of one document, over one store.
struct Cluster {
    a: Harness,
    b: Harness,
    node_a: NodeId,
    node_b: NodeId,
}

impl Cluster {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        Cluster {
            a: Harness::clustered(store.clone(), false),
            b: Harness::clustered(store, false),
            node_a: NodeId::random(),
            node_b: NodeId::random(),
        }
    }

    /// Hands what `a` published so far to `b`.
    fn deliver_a_to_b(&mut self) {
        for body in std::mem::take(&mut self.a.published) {
            let from = self.node_a;
            self.b
                .peer_event(PeerEvent::Message(ClusterMessage { from, body }));
        }
    }

    /// Hands what `b` published so far to `a`.
    fn deliver_b_to_a(&mut self) {
        for body in std::mem::take(&mut self.b.published) {
            let from = self.node_b;
            self.a
                .peer_event(PeerEvent::Message(ClusterMessage { from, body }));
        }
    }
}

/// The seqs of the updates among `published`.
fn published_seqs(published: &[Announcement]) -> Vec<u64> {
    published
        .iter()
        .filter_map(|announcement| match announcement {
            Announcement::Update { first, last, .. } => {
                assert_eq!(first, last, "one message per stored update");
                Some(first.0)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn an_update_is_published_once_durable_and_reaches_the_other_nodes_clients() {
    let mut cluster = Cluster::new();
    let alice = cluster.a.join(Access::ReadWrite);
    let bob = cluster.b.join(Access::ReadWrite);
    cluster.a.type_text(alice, "hello");
    cluster.a.exchange();
    assert_eq!(
        published_seqs(&cluster.a.published),
        Vec::<u64>::new(),
        "nothing is published before it is durable"
    );
    cluster.a.complete_persists();
    assert_eq!(published_seqs(&cluster.a.published), vec![1]);

    cluster.deliver_a_to_b();
    cluster.b.exchange();
    assert_eq!(cluster.b.peers[&bob].text(), "hello");
    assert_eq!(
        cluster.b.persists_pending(),
        0,
        "the other node stores nothing again"
    );
    assert_eq!(cluster.b.store.load("doc").unwrap().last_seq, Seq(1));
    assert!(!cluster.b.catch_up_pending(), "nothing was missed");
}

#[test]
fn a_missed_publication_is_read_from_the_store() {
    let mut cluster = Cluster::new();
    let alice = cluster.a.join(Access::ReadWrite);
    let bob = cluster.b.join(Access::ReadWrite);
    cluster.a.type_text(alice, "one ");
    cluster.a.exchange();
    cluster.a.complete_persists();
    cluster.a.published.clear(); // lost on the way
    cluster.a.type_text(alice, "two");
    cluster.a.exchange();
    cluster.a.complete_persists();
    cluster.deliver_a_to_b();
    assert!(cluster.b.catch_up_pending(), "seq 2 came without seq 1");
    cluster.b.complete_catch_up();
    cluster.b.exchange();
    assert_eq!(cluster.b.peers[&bob].text(), "one two");
}

#[test]
fn a_compaction_never_drops_an_update_the_room_did_not_hold() {
    let mut cluster = Cluster::new();
    let alice = cluster.a.join(Access::ReadWrite);
    let bob = cluster.b.join(Access::ReadWrite);
    cluster.a.type_text(alice, "from a;");
    cluster.a.exchange();
    cluster.a.complete_persists(); // seq 1, its publication still on the way to b
    cluster.b.type_text(bob, "from b;");
    cluster.b.exchange();
    cluster.b.complete_persists(); // seq 2
    // Bob leaves: b's room compacts before retiring, holding seq 2 but not seq 1.
    cluster.b.leave(bob);
    cluster.b.exchange();
    let compacted: Vec<Seq> = cluster
        .b
        .seen
        .iter()
        .filter_map(|seen| match seen {
            Seen::Compact(through) => Some(*through),
            _ => None,
        })
        .collect();
    assert_eq!(
        compacted,
        vec![Seq(0)],
        "a snapshot may cover only what it holds"
    );
    cluster.b.complete_compaction();

    let stored = cluster.a.store.load("doc").unwrap();
    assert!(
        stored.updates.iter().any(|update| update.seq == Seq(1)),
        "a's update is still stored"
    );
    let fresh = Harness::clustered(cluster.a.store.clone(), false);
    let mut fresh = fresh;
    let reader = fresh.join(Access::ReadOnly);
    fresh.exchange();
    let text = fresh.peers[&reader].text();
    assert!(
        text.contains("from a;") && text.contains("from b;"),
        "{text}"
    );
}

#[test]
fn a_room_loading_meanwhile_misses_nothing_and_applies_nothing_twice() {
    let store = Arc::new(MemoryStore::new());
    let mut a = Harness::clustered(store.clone(), false);
    let node_a = NodeId::random();
    let alice = a.join(Access::ReadWrite);
    a.type_text(alice, "before;");
    a.exchange();
    a.complete_persists();
    a.published.clear(); // published before b subscribed: b reads it with its load

    // b subscribed and is loading; a stores and publishes meanwhile.
    let mut b = Harness::clustered(store, true);
    a.type_text(alice, "during;");
    a.exchange();
    a.complete_persists();
    for body in std::mem::take(&mut a.published) {
        b.peer_event(PeerEvent::Message(ClusterMessage { from: node_a, body }));
    }
    b.complete_load();
    let bob = b.join(Access::ReadWrite);
    b.exchange();
    assert_eq!(b.peers[&bob].text(), "before;during;");
    assert!(!b.catch_up_pending());

    a.type_text(alice, "after;");
    a.exchange();
    a.complete_persists();
    for body in std::mem::take(&mut a.published) {
        b.peer_event(PeerEvent::Message(ClusterMessage { from: node_a, body }));
    }
    b.exchange();
    assert_eq!(b.peers[&bob].text(), "before;during;after;");
    assert_eq!(
        b.peers[&bob].updates_seen.len(),
        2,
        "the sync, then the one update it lacked: nothing sent twice"
    );
}

#[test]
fn after_an_outage_a_room_reads_the_store_and_tells_the_others_how_far_it_is() {
    let mut cluster = Cluster::new();
    let alice = cluster.a.join(Access::ReadWrite);
    let bob = cluster.b.join(Access::ReadWrite);
    cluster.a.type_text(alice, "while cut off");
    cluster.a.exchange();
    cluster.a.complete_persists();
    cluster.a.published.clear();
    cluster.b.peer_event(PeerEvent::Resync);
    assert!(cluster.b.catch_up_pending());
    assert!(
        cluster
            .b
            .published
            .iter()
            .any(|announcement| matches!(announcement, Announcement::HighWater { .. })),
        "{:?}",
        cluster.b.published
    );
    assert!(
        cluster.b.published.contains(&Announcement::AwarenessQuery),
        "it asks who is there"
    );
    cluster.b.complete_catch_up();
    cluster.b.exchange();
    assert_eq!(cluster.b.peers[&bob].text(), "while cut off");

    // a hears b's high-water mark: b holds what a holds, so a reads nothing.
    cluster.deliver_b_to_a();
    assert!(!cluster.a.catch_up_pending());
}

#[test]
fn a_sleeping_room_sends_what_arrives_without_waking() {
    let store = Arc::new(MemoryStore::new());
    let mut a = Harness::clustered(store.clone(), false);
    let mut b = Harness::clustered_idle(store, std::time::Duration::from_secs(10));
    let node_a = NodeId::random();
    let alice = a.join(Access::ReadWrite);
    let bob = b.join(Access::ReadWrite);
    b.exchange();
    b.advance(std::time::Duration::from_secs(60));
    assert!(b.seen.contains(&Seen::Sleep), "{:?}", b.seen);
    let woke_before = b.seen.iter().filter(|seen| **seen == Seen::Wake).count();

    a.type_text(alice, "to a sleeper");
    a.exchange();
    a.complete_persists();
    for body in std::mem::take(&mut a.published) {
        b.peer_event(PeerEvent::Message(ClusterMessage { from: node_a, body }));
    }
    b.exchange();
    assert_eq!(b.peers[&bob].text(), "to a sleeper");
    assert_eq!(
        b.seen.iter().filter(|seen| **seen == Seen::Wake).count(),
        woke_before,
        "an update needs no document to be sent on"
    );
}
