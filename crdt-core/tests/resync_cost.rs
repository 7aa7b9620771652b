//! What a reconnect costs on a large, realistic document: the bytes of every frame of the sync.
//!
//! A `SyncClient` and a `Room` both hold the automerge-paper document (259,778 single-character
//! edits, built once from the trace). The client connects and syncs, goes offline, and then one
//! character changes: on the client while it is offline, in the room (typed by another client)
//! meanwhile, or both. On reconnect the state-vector exchange must carry only that change plus the
//! document's delete set (every y-protocols SyncStep2 carries it whole): a small fraction of the
//! full state a fresh client downloads. Both sides must end identical, with the edits present.
//!
//! The byte counts are printed (`cargo test -p crdt-core --test resync_cost -- --nocapture`) and
//! recorded in `docs/benchmarks.md`. Without the trace file every test prints why and passes.

#[path = "../benches/trace/mod.rs"]
#[allow(dead_code)]
mod trace;

use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use crdt_core::wire::decode_frame;
use crdt_core::{Access, ConnectionId, Outgoing, Room, SyncClient};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

const TRACE_FILE: &str = "automerge-paper.json.gz";

/// Patches replayed per yrs transaction while building the document. The result matches a
/// per-edit replay: the full state has the same 376,756 bytes as the per-edit updates of
/// `docs/benchmarks.md` applied in order. It is no slower than one transaction per patch, since
/// yrs's position lookup dominates either way. Much larger batches are slower, because yrs
/// squashes blocks only at commit and the block list it walks grows.
const PATCHES_PER_TRANSACTION: usize = 1_000;

/// Client ids: the trace's author, the user who reconnects, another user who edits meanwhile.
/// Large like the random 53-bit ids yrs picks (JavaScript Yjs picks 32-bit ones): every block
/// names its origin's client, so the id's varint length shows in the full state's size.
const AUTHOR: u64 = 0x1A_2B3C_4D5E_6F70;
const RECONNECTING: u64 = 0x0F_EDCB_A987_6543;
const OTHER: u64 = 0x13_5724_6813_5724;

/// Besides the document's delete set, a one-character reconnect may exchange at most this
/// fraction of the full state, each way.
const MAX_FRACTION_BEYOND_DELETE_SET: f64 = 0.01;

/// And in all, delete set included, at most this fraction each way.
const MAX_RECONNECT_FRACTION: f64 = 0.05;

/// The whole document, built once and shared by every test of this file.
struct Paper {
    /// The document as one Yjs v1 update (what a fresh client downloads).
    full_state: Vec<u8>,
    /// Its text: the trace's `endContent`.
    text: String,
    /// The document's delete set alone, v1-encoded. Every SyncStep2 carries it whole: Yjs
    /// cannot tell which deletions the other side has already seen.
    delete_set_bytes: usize,
}

fn paper() -> Option<&'static Paper> {
    static PAPER: OnceLock<Option<Paper>> = OnceLock::new();
    PAPER.get_or_init(build_paper).as_ref()
}

fn build_paper() -> Option<Paper> {
    let started = Instant::now();
    let trace = match trace::load(TRACE_FILE) {
        Ok(trace) => trace,
        Err(error) => {
            eprintln!("resync_cost: skipping: {error}");
            return None;
        }
    };
    assert!(
        trace.start_content.is_ascii() && trace.end_content.is_ascii(),
        "automerge-paper is pure ASCII, so code-point positions are yrs byte offsets"
    );
    let loaded = started.elapsed();
    let doc = Doc::with_client_id(AUTHOR);
    let text = doc.get_or_insert_text(trace::TEXT_NAME);
    let patches: Vec<&trace::Patch> = trace.txns.iter().flat_map(|txn| &txn.patches).collect();
    for chunk in patches.chunks(PATCHES_PER_TRANSACTION) {
        let mut txn = doc.transact_mut();
        for trace::Patch(position, deleted, inserted) in chunk {
            assert!(inserted.is_ascii());
            if *deleted > 0 {
                text.remove_range(&mut txn, *position, *deleted);
            }
            if !inserted.is_empty() {
                text.insert(&mut txn, *position, inserted);
            }
        }
    }
    let final_text = text.get_string(&doc.transact());
    assert!(
        final_text == trace.end_content,
        "replaying the trace did not give its endContent"
    );
    let full_state = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let delete_set = doc.transact().snapshot().delete_set;
    let delete_ranges: usize = delete_set.iter().map(|(_, ranges)| ranges.len()).sum();
    let delete_set_bytes = delete_set.encode_v1().len();
    eprintln!(
        "resync_cost: loaded the trace in {loaded:.1?}, replayed its {} patches in {:.1?}; full \
         state {} bytes, of which the delete set ({delete_ranges} ranges) is {delete_set_bytes} \
         bytes",
        patches.len(),
        started.elapsed() - loaded,
        full_state.len()
    );
    Some(Paper {
        full_state,
        text: final_text,
        delete_set_bytes,
    })
}

/// Bytes and frames that crossed one connection, per direction.
#[derive(Debug, Default)]
struct Traffic {
    to_room_bytes: usize,
    to_client_bytes: usize,
    /// Updates the room asked the server to store because of this link.
    persisted_bytes: usize,
    /// Frames the room sent to every other connection because of this link.
    relayed_bytes: usize,
    /// `(direction, message kind, bytes)` of every frame, in order.
    frames: Vec<(&'static str, &'static str, usize)>,
}

impl Traffic {
    fn print(&self, label: &str) {
        eprintln!(
            "resync_cost: {label}: client->room {} bytes, room->client {} bytes; \
             persisted {} bytes, relayed to each other client {} bytes",
            self.to_room_bytes, self.to_client_bytes, self.persisted_bytes, self.relayed_bytes
        );
        for (direction, kind, bytes) in &self.frames {
            eprintln!("resync_cost:     {direction} {kind:<10} {bytes:>8} bytes");
        }
    }
}

/// A client connected to a room, with the frames between them carried and counted.
struct Link {
    connection: ConnectionId,
    traffic: Traffic,
}

/// Connects `client` to `room` and carries frames both ways until neither side has more.
/// Frames the room sends to other connections are dropped (they are not on this link).
fn connect_and_sync(room: &mut Room, client: &mut SyncClient) -> Link {
    let connection = room.handle_connect(Access::ReadWrite);
    client.handle_connected();
    let mut link = Link {
        connection,
        traffic: Traffic::default(),
    };
    pump(room, client, &mut link);
    assert!(client.is_synced(), "the room's SyncStep2 arrived");
    link
}

fn pump(room: &mut Room, client: &mut SyncClient, link: &mut Link) {
    loop {
        let mut moved = false;
        while let Some(frame) = client.poll_outgoing() {
            link.traffic.to_room_bytes += frame.len();
            link.traffic
                .frames
                .push(("client->room", kind_of(&frame), frame.len()));
            room.handle_frame(link.connection, &frame)
                .expect("the room accepts the client's frame");
            moved = true;
        }
        while let Some(outgoing) = room.poll_outgoing() {
            let frame = match outgoing {
                Outgoing::Reply { to, frame } if to == link.connection => frame,
                Outgoing::Broadcast { except, frame } if except != Some(link.connection) => frame,
                Outgoing::Broadcast { frame, .. } => {
                    link.traffic.relayed_bytes += frame.len();
                    continue;
                }
                Outgoing::Persist { update } => {
                    link.traffic.persisted_bytes += update.len();
                    continue;
                }
                Outgoing::Reply { .. } | Outgoing::ToPeers { .. } => continue,
            };
            link.traffic.to_client_bytes += frame.len();
            link.traffic
                .frames
                .push(("room->client", kind_of(&frame), frame.len()));
            client
                .handle_frame(&frame)
                .expect("the client accepts the room's frame");
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn kind_of(frame: &Bytes) -> &'static str {
    match decode_frame(frame).expect("a well-formed frame").as_slice() {
        [Message::Sync(SyncMessage::SyncStep1(_))] => "SyncStep1",
        [Message::Sync(SyncMessage::SyncStep2(_))] => "SyncStep2",
        [Message::Sync(SyncMessage::Update(_))] => "Update",
        [Message::Awareness(_)] => "Awareness",
        _ => "other",
    }
}

/// A client whose document already holds the paper (as an editor with it open would).
fn client_holding(paper: &Paper, client_id: u64) -> SyncClient {
    let doc = Doc::with_client_id(client_id);
    doc.get_or_insert_text(trace::TEXT_NAME);
    apply(&doc, &paper.full_state);
    SyncClient::new(doc)
}

/// A room holding the paper, loaded as from storage.
fn room_holding(paper: &Paper) -> Room {
    let mut room = Room::new();
    room.handle_stored_update(&paper.full_state)
        .expect("the full state applies");
    room
}

fn apply(doc: &Doc, update: &[u8]) {
    let update = Update::decode_v1(update).expect("a v1 update");
    doc.transact_mut()
        .apply_update(update)
        .expect("the update applies");
}

/// Inserts `character` at `index` in one transaction and hands the update to the client (which
/// sends it only if connected).
fn insert(client: &mut SyncClient, index: u32, character: &str) {
    let doc = client.doc().clone();
    let text = doc.get_or_insert_text(trace::TEXT_NAME);
    let update = {
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, index, character);
        txn.encode_update_v1()
    };
    client.handle_local_update(&update);
}

fn text_of(doc: &Doc) -> String {
    doc.get_or_insert_text(trace::TEXT_NAME)
        .get_string(&doc.transact())
}

fn state_vector_of(doc: &Doc) -> StateVector {
    doc.transact().state_vector()
}

/// The paper's text with `character` inserted at byte `index`.
fn with_insert(text: &str, index: u32, character: &str) -> String {
    let mut edited = text.to_owned();
    edited.insert_str(index as usize, character);
    edited
}

/// Which side changes a character while the reconnecting client is offline.
#[derive(Debug, Clone, Copy)]
enum OfflineChange {
    Client,
    Room,
    Both,
}

/// The scenario every reconnect test runs; returns the reconnect's traffic.
fn reconnect_after(paper: &Paper, change: OfflineChange) -> Traffic {
    let mut room = room_holding(paper);
    let mut client = client_holding(paper, RECONNECTING);
    let first = connect_and_sync(&mut room, &mut client);
    first
        .traffic
        .print(&format!("{change:?}: first connect (both hold the paper)"));
    room.handle_disconnect(first.connection);
    client.handle_disconnected();

    let mut expected = paper.text.clone();
    // The room's edit goes in first at the later index, so both indexes stay valid for
    // `expected` (they are far apart and both sides insert into the same original text).
    if matches!(change, OfflineChange::Room | OfflineChange::Both) {
        let mut other = client_holding(paper, OTHER);
        let mut link = connect_and_sync(&mut room, &mut other);
        insert(&mut other, 60_000, "R");
        pump(&mut room, &mut other, &mut link);
        room.handle_disconnect(link.connection);
        expected = with_insert(&expected, 60_000, "R");
    }
    if matches!(change, OfflineChange::Client | OfflineChange::Both) {
        insert(&mut client, 1_000, "C");
        assert_eq!(client.poll_outgoing(), None, "offline edits wait");
        expected = with_insert(&expected, 1_000, "C");
    }

    let reconnect = connect_and_sync(&mut room, &mut client);
    reconnect
        .traffic
        .print(&format!("{change:?}: reconnect after one-character edit"));
    assert_eq!(text_of(client.doc()), expected, "the client has both edits");
    assert_eq!(text_of(room.doc()), expected, "the room has both edits");
    assert_eq!(
        state_vector_of(client.doc()),
        state_vector_of(room.doc()),
        "client and room end identical"
    );
    reconnect.traffic
}

/// Each way, the reconnect carries the delete set and hardly anything else: far less than the
/// full state.
fn assert_small(traffic: &Traffic, paper: &Paper) {
    let full = paper.full_state.len() as f64;
    let beyond_limit = (full * MAX_FRACTION_BEYOND_DELETE_SET) as usize;
    let total_limit = (full * MAX_RECONNECT_FRACTION) as usize;
    for (direction, bytes) in [
        ("client->room", traffic.to_room_bytes),
        ("room->client", traffic.to_client_bytes),
    ] {
        let beyond = bytes.saturating_sub(paper.delete_set_bytes);
        assert!(
            beyond < beyond_limit && bytes < total_limit,
            "{direction}: a one-character reconnect sent {bytes} bytes, {beyond} beyond the \
             {}-byte delete set; the limits are {beyond_limit} beyond it and {total_limit} in all \
             (the full state is {} bytes): {traffic:?}",
            paper.delete_set_bytes,
            paper.full_state.len()
        );
    }
}

/// The reference: a client with an empty document downloads the whole state.
#[test]
fn a_fresh_client_downloads_the_full_state() {
    let Some(paper) = paper() else { return };
    let mut room = room_holding(paper);
    let mut client = SyncClient::new(Doc::with_client_id(RECONNECTING));
    let link = connect_and_sync(&mut room, &mut client);
    link.traffic.print("fresh client joins");
    assert_eq!(text_of(client.doc()), paper.text);
    assert!(
        link.traffic.to_client_bytes >= paper.full_state.len(),
        "the SyncStep2 carries the full state"
    );
}

#[test]
fn reconnect_after_an_offline_one_character_insert_sends_only_that_change() {
    let Some(paper) = paper() else { return };
    let traffic = reconnect_after(paper, OfflineChange::Client);
    assert_small(&traffic, paper);
}

#[test]
fn reconnect_after_a_one_character_insert_by_another_client_receives_only_that_change() {
    let Some(paper) = paper() else { return };
    let traffic = reconnect_after(paper, OfflineChange::Room);
    assert_small(&traffic, paper);
}

#[test]
fn reconnect_with_one_character_changed_on_each_side_exchanges_only_those_changes() {
    let Some(paper) = paper() else { return };
    let traffic = reconnect_after(paper, OfflineChange::Both);
    assert_small(&traffic, paper);
}
