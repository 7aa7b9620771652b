//! Property: whatever the interleaving of edits, deliveries, disconnects and offline edits, every
//! client and the room end up with the same document, holding every edit anyone made, and what
//! the room persisted replays into that same document.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{Network, contents, is_empty_update};
use crdt_core::{Access, Room};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use yrs::block::ClientID;
use yrs::{Any, Array, Map, Text};

/// One local edit, positions chosen relative to the document as the editing client sees it.
#[derive(Debug, Clone)]
enum Edit {
    InsertText { at: Index, text: String },
    DeleteText { at: Index, len: u32 },
    SetMap { key: u8, value: i64 },
    RemoveMap { key: u8 },
    InsertArray { at: Index },
    RemoveArray { at: Index },
}

/// One thing that happens in the simulated world.
#[derive(Debug, Clone)]
enum Step {
    Edit {
        peer: Index,
        edit: Edit,
    },
    /// Delivers the oldest frame of one non-empty queue, picked among all of them.
    Deliver {
        queue: Index,
    },
    Disconnect {
        peer: Index,
    },
    Reconnect {
        peer: Index,
    },
}

fn insert_text() -> impl Strategy<Value = Edit> {
    (any::<Index>(), "[a-z]{1,3}").prop_map(|(at, text)| Edit::InsertText { at, text })
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        insert_text(),
        (any::<Index>(), 1..=3u32).prop_map(|(at, len)| Edit::DeleteText { at, len }),
        (0..4u8, any::<i64>()).prop_map(|(key, value)| Edit::SetMap { key, value }),
        (0..4u8).prop_map(|key| Edit::RemoveMap { key }),
        any::<Index>().prop_map(|at| Edit::InsertArray { at }),
        any::<Index>().prop_map(|at| Edit::RemoveArray { at }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<Index>(), edit()).prop_map(|(peer, edit)| Step::Edit { peer, edit }),
        8 => any::<Index>().prop_map(|queue| Step::Deliver { queue }),
        1 => any::<Index>().prop_map(|peer| Step::Disconnect { peer }),
        1 => any::<Index>().prop_map(|peer| Step::Reconnect { peer }),
    ]
}

/// What the edits made, to check the final document against.
#[derive(Default)]
struct Tally {
    /// Edits that changed the editing client's document.
    applied: usize,
    /// Per client id: how many items it inserted, which is its final state-vector clock in Yjs.
    inserted_items: HashMap<u64, u32>,
    /// Every array element ever inserted (each one unique) and every one removed.
    array_inserted: BTreeSet<String>,
    array_removed: BTreeSet<String>,
}

fn client_id(peer: usize) -> u64 {
    peer as u64 + 1
}

fn apply_edit(network: &mut Network, peer: usize, edit: &Edit, tally: &mut Tally) {
    let token = format!("{}-{}", client_id(peer), tally.array_inserted.len());
    let mut inserted_items = 0;
    let update = network.edit(peer, |roots, txn| match edit {
        Edit::InsertText { at, text } => {
            let len = roots.text.len(txn) as usize;
            roots.text.insert(txn, at.index(len + 1) as u32, text);
            inserted_items = text.len() as u32;
        }
        Edit::DeleteText { at, len } => {
            let total = roots.text.len(txn);
            if total > 0 {
                let start = at.index(total as usize) as u32;
                roots
                    .text
                    .remove_range(txn, start, (*len).min(total - start));
            }
        }
        Edit::SetMap { key, value } => {
            roots.map.insert(txn, format!("key{key}"), *value);
            inserted_items = 1;
        }
        Edit::RemoveMap { key } => {
            roots.map.remove(txn, &format!("key{key}"));
        }
        Edit::InsertArray { at } => {
            let len = roots.array.len(txn) as usize;
            roots
                .array
                .insert(txn, at.index(len + 1) as u32, token.clone());
            tally.array_inserted.insert(token);
            inserted_items = 1;
        }
        Edit::RemoveArray { at } => {
            let len = roots.array.len(txn) as usize;
            if len > 0 {
                let index = at.index(len) as u32;
                let element = roots.array.get(txn, index).expect("index is in bounds");
                tally.array_removed.insert(element.to_string(txn));
                roots.array.remove(txn, index);
            }
        }
    });
    if !is_empty_update(&update) {
        tally.applied += 1;
    }
    *tally.inserted_items.entry(client_id(peer)).or_default() += inserted_items;
}

/// Runs `steps` on `peer_count` clients around one room, then reconnects everyone and lets the
/// network drain; returns the network and what the edits did.
fn simulate(peer_count: usize, steps: &[Step]) -> (Network, Tally) {
    let mut network = Network::new(Room::new());
    for peer in 0..peer_count {
        network.add_peer(client_id(peer));
        network.connect(peer, Access::ReadWrite);
    }
    let mut tally = Tally::default();
    for step in steps {
        match step {
            Step::Edit { peer, edit } => {
                apply_edit(&mut network, peer.index(peer_count), edit, &mut tally);
            }
            Step::Deliver { queue } => {
                let pending = network.pending();
                if !pending.is_empty() {
                    let (peer, direction) = pending[queue.index(pending.len())];
                    network.deliver(peer, direction);
                }
            }
            Step::Disconnect { peer } => network.disconnect(peer.index(peer_count)),
            Step::Reconnect { peer } => {
                let peer = peer.index(peer_count);
                if network.peers[peer].connection.is_none() {
                    network.connect(peer, Access::ReadWrite);
                }
            }
        }
    }
    for peer in 0..peer_count {
        if network.peers[peer].connection.is_none() {
            network.connect(peer, Access::ReadWrite);
        }
    }
    network.settle();
    (network, tally)
}

fn array_elements(array: &Any) -> Vec<String> {
    let Any::Array(elements) = array else {
        panic!("root array as JSON is an array, got {array:?}");
    };
    elements.iter().map(ToString::to_string).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every client and the room converge to one document that holds every edit made, online
    /// or offline, whatever order frames from different connections arrive in; replaying what
    /// was persisted restores it.
    #[test]
    fn clients_and_room_converge_on_every_edit(
        peer_count in 2..=5usize,
        (first_peer, first_edit) in (any::<Index>(), insert_text()),
        steps in vec(step(), 0..100),
    ) {
        // Opening with an insertion guarantees at least one edit to converge on.
        let opening = Step::Edit { peer: first_peer, edit: first_edit };
        let all_steps: Vec<Step> = std::iter::once(opening).chain(steps).collect();
        let (network, tally) = simulate(peer_count, &all_steps);
        prop_assert!(tally.applied > 0);
        prop_assert_eq!(network.room.connection_count(), peer_count);

        let room = contents(network.room.doc());
        for (peer, state) in network.peers.iter().enumerate() {
            prop_assert_eq!(&contents(state.client.doc()), &room, "client {}", client_id(peer));
        }

        // Every insertion of every client reached the room, including those made offline.
        for peer in 0..peer_count {
            let id = client_id(peer);
            let expected = tally.inserted_items.get(&id).copied().unwrap_or(0);
            prop_assert_eq!(room.state_vector.get(&ClientID::new(id)), expected, "client {}", id);
        }

        // Every array removal reached the room too: exactly the never-removed elements remain.
        let mut remaining = array_elements(&room.array);
        let count = remaining.len();
        remaining.sort();
        remaining.dedup();
        prop_assert_eq!(remaining.len(), count, "an element appears twice");
        let expected: Vec<String> =
            tally.array_inserted.difference(&tally.array_removed).cloned().collect();
        prop_assert_eq!(remaining, expected);

        // What was persisted, replayed into a fresh room (a restart), is the same document.
        let mut restarted = Room::new();
        for update in &network.persisted {
            restarted.handle_stored_update(update).expect("persisted updates are valid");
        }
        prop_assert_eq!(contents(restarted.doc()), room);
    }
}
