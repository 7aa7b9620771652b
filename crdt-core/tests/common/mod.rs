//! An in-process network of `SyncClient`s around one `Room`, for the integration tests.
//!
//! Every connection has two FIFO queues, client→room and room→client, like a WebSocket. Frames
//! the room emits are routed as a server would: `Reply` to its connection, `Broadcast` to every
//! connection but `except`, `Persist` into a log.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use crdt_core::{Access, ConnectionId, Outgoing, ProtocolError, Room, SyncClient};
use yrs::block::ClientID;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{Awareness, AwarenessUpdate, Message, SyncMessage};
use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{Any, ArrayRef, Doc, GetString, Map, MapRef, ReadTxn, StateVector, TextRef, Transact};
use yrs::{TransactionMut, Update};

/// One simulated user: a client and its connection's two queues.
pub struct Peer {
    pub client: SyncClient,
    pub connection: Option<ConnectionId>,
    pub to_room: VecDeque<Bytes>,
    pub to_client: VecDeque<Bytes>,
}

/// A room and the peers talking to it.
pub struct Network {
    pub room: Room,
    pub peers: Vec<Peer>,
    pub persisted: Vec<Bytes>,
    /// Every broadcast frame routed so far.
    pub broadcasts: Vec<Bytes>,
}

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToRoom,
    ToClient,
}

impl Network {
    pub fn new(room: Room) -> Self {
        Network {
            room,
            peers: Vec::new(),
            persisted: Vec::new(),
            broadcasts: Vec::new(),
        }
    }

    /// Adds a disconnected peer whose document uses `client_id`; returns its index.
    pub fn add_peer(&mut self, client_id: u64) -> usize {
        self.peers.push(Peer {
            client: SyncClient::new(Doc::with_client_id(client_id)),
            connection: None,
            to_room: VecDeque::new(),
            to_client: VecDeque::new(),
        });
        self.peers.len() - 1
    }

    /// Opens `peer`'s connection: the room learns of it, then the client starts its sync.
    pub fn connect(&mut self, peer: usize, access: Access) -> ConnectionId {
        let connection = self.room.handle_connect(access);
        self.peers[peer].connection = Some(connection);
        self.route_room_outgoing();
        self.peers[peer].client.handle_connected();
        self.collect_client_outgoing(peer);
        connection
    }

    /// Drops `peer`'s connection and whatever was still in flight on it.
    pub fn disconnect(&mut self, peer: usize) {
        let Some(connection) = self.peers[peer].connection.take() else {
            return;
        };
        let state = &mut self.peers[peer];
        state.to_room.clear();
        state.to_client.clear();
        state.client.handle_disconnected();
        self.room.handle_disconnect(connection);
        self.route_room_outgoing();
    }

    /// Carries out every effect the room has queued.
    pub fn route_room_outgoing(&mut self) {
        let effects = self.take_room_outgoing();
        self.route(effects);
    }

    /// Everything the room has queued, without carrying it out.
    pub fn take_room_outgoing(&mut self) -> Vec<Outgoing> {
        drain(&mut self.room)
    }

    /// Carries out `effects` as a server would.
    pub fn route(&mut self, effects: Vec<Outgoing>) {
        for effect in effects {
            match effect {
                Outgoing::Reply { to, frame } => {
                    if let Some(peer) = self.peers.iter_mut().find(|p| p.connection == Some(to)) {
                        peer.to_client.push_back(frame);
                    }
                }
                Outgoing::Broadcast { except, frame } => {
                    self.broadcasts.push(frame.clone());
                    for peer in &mut self.peers {
                        if peer.connection.is_some() && peer.connection != except {
                            peer.to_client.push_back(frame.clone());
                        }
                    }
                }
                Outgoing::Persist { update } => self.persisted.push(update),
                // These rooms share their documents with no peer server.
                Outgoing::ToPeers { .. } => {}
            }
        }
    }

    /// Moves what `peer`'s client wants to send onto its connection (dropped when offline).
    pub fn collect_client_outgoing(&mut self, peer: usize) {
        let state = &mut self.peers[peer];
        while let Some(frame) = state.client.poll_outgoing() {
            if state.connection.is_some() {
                state.to_room.push_back(frame);
            }
        }
    }

    /// Hands `frame` to the room as if `peer` had sent it, without routing what it causes.
    pub fn send_raw(&mut self, peer: usize, frame: &[u8]) -> Result<(), ProtocolError> {
        let connection = self.peers[peer].connection.expect("peer is connected");
        self.room.handle_frame(connection, frame)
    }

    /// Hands `peer`'s oldest queued frame to the room, without routing what it causes.
    pub fn send_next_raw(&mut self, peer: usize) -> Result<(), ProtocolError> {
        let frame = self.peers[peer]
            .to_room
            .pop_front()
            .expect("a frame is queued");
        self.send_raw(peer, &frame)
    }

    /// Hands the oldest frame from `peer` to the room, then routes what that caused.
    pub fn deliver_to_room(&mut self, peer: usize) -> Option<Result<(), ProtocolError>> {
        let frame = self.peers[peer].to_room.pop_front()?;
        let connection = self.peers[peer]
            .connection
            .expect("a queued frame has a connection");
        let result = self.room.handle_frame(connection, &frame);
        self.route_room_outgoing();
        Some(result)
    }

    /// Hands the oldest frame for `peer` to its client, then queues the client's answers.
    pub fn deliver_to_client(&mut self, peer: usize) -> Option<Result<(), ProtocolError>> {
        let frame = self.peers[peer].to_client.pop_front()?;
        let result = self.peers[peer].client.handle_frame(&frame);
        self.collect_client_outgoing(peer);
        Some(result)
    }

    /// Every (peer, direction) with a frame waiting.
    pub fn pending(&self) -> Vec<(usize, Direction)> {
        let mut pending = Vec::new();
        for (index, peer) in self.peers.iter().enumerate() {
            if !peer.to_room.is_empty() {
                pending.push((index, Direction::ToRoom));
            }
            if !peer.to_client.is_empty() {
                pending.push((index, Direction::ToClient));
            }
        }
        pending
    }

    /// Delivers one waiting frame; panics if either side refuses it.
    pub fn deliver(&mut self, peer: usize, direction: Direction) {
        let result = match direction {
            Direction::ToRoom => self.deliver_to_room(peer),
            Direction::ToClient => self.deliver_to_client(peer),
        };
        if let Some(Err(error)) = result {
            panic!("peer {peer} {direction:?}: {error}");
        }
    }

    /// Delivers frames until no queue holds any.
    pub fn settle(&mut self) {
        loop {
            let pending = self.pending();
            if pending.is_empty() {
                return;
            }
            for (peer, direction) in pending {
                self.deliver(peer, direction);
            }
        }
    }

    /// Makes a local edit on `peer` and sends it like an editor binding would; returns the update.
    pub fn edit(
        &mut self,
        peer: usize,
        change: impl FnOnce(&Roots, &mut TransactionMut),
    ) -> Vec<u8> {
        let update = edit(&mut self.peers[peer].client, change);
        self.collect_client_outgoing(peer);
        update
    }

    /// The awareness state `peer`'s client shows for client `client_id`.
    pub fn seen_by(&self, peer: usize, client_id: u64) -> Option<String> {
        awareness_state(self.peers[peer].client.awareness(), client_id)
    }

    /// Sets `peer`'s awareness state and sends it.
    pub fn set_awareness(&mut self, peer: usize, json: &str) {
        self.peers[peer].client.handle_local_awareness(json);
        self.collect_client_outgoing(peer);
    }
}

/// The root types the tests edit.
pub struct Roots {
    pub text: TextRef,
    pub map: MapRef,
    pub array: ArrayRef,
}

impl Roots {
    pub fn of(doc: &Doc) -> Self {
        Roots {
            text: doc.get_or_insert_text("text"),
            map: doc.get_or_insert_map("map"),
            array: doc.get_or_insert_array("array"),
        }
    }
}

/// Edits `client`'s document in one transaction and hands the update to the client to send.
pub fn edit(client: &mut SyncClient, change: impl FnOnce(&Roots, &mut TransactionMut)) -> Vec<u8> {
    let doc = client.doc().clone();
    let roots = Roots::of(&doc);
    let update = {
        let mut transaction = doc.transact_mut();
        change(&roots, &mut transaction);
        transaction.encode_update_v1()
    };
    client.handle_local_update(&update);
    update
}

/// What a user sees of a document, plus its state vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    pub text: String,
    pub map: Any,
    pub array: Any,
    pub state_vector: StateVector,
}

/// What a user sees of `doc`, plus its state vector.
pub fn contents(doc: &Doc) -> Contents {
    let roots = Roots::of(doc);
    let transaction = doc.transact();
    Contents {
        text: roots.text.get_string(&transaction),
        map: roots.map.to_json(&transaction),
        array: roots.array.to_json(&transaction),
        state_vector: transaction.state_vector(),
    }
}

/// A standalone document holding `text` in its root "text", as one v1 update.
pub fn text_update(client_id: u64, text: &str) -> Vec<u8> {
    let doc = Doc::with_client_id(client_id);
    let roots = Roots::of(&doc);
    let mut transaction = doc.transact_mut();
    yrs::Text::insert(&roots.text, &mut transaction, 0, text);
    transaction.encode_update_v1()
}

/// Whether `update` carries no blocks and no deletions.
pub fn is_empty_update(update: &[u8]) -> bool {
    Update::decode_v1(update).expect("a v1 update").is_empty()
}

/// The single message of a frame; panics unless it is well-formed and holds exactly one.
pub fn only_message(frame: &[u8]) -> Message {
    let mut all = crdt_core::wire::decode_frame(frame).expect("a well-formed frame");
    assert_eq!(all.len(), 1, "one message per frame, got {all:?}");
    all.remove(0)
}

/// The awareness state `awareness` holds for client `client_id`, if it is present.
pub fn awareness_state(awareness: &Awareness, client_id: u64) -> Option<String> {
    awareness
        .iter()
        .find(|(client, _)| client.get() == client_id)
        .and_then(|(_, state)| state.data.map(|json| json.to_string()))
}

/// Peers with client ids 1..=`count`, all connected read-write and synced with `room`.
pub fn connected_network(room: Room, count: u64) -> Network {
    let mut network = Network::new(room);
    for client_id in 1..=count {
        let peer = network.add_peer(client_id);
        network.connect(peer, Access::ReadWrite);
    }
    network.settle();
    network
}

/// A frame holding one sync message.
pub fn sync_frame(message: SyncMessage) -> Bytes {
    crdt_core::wire::encode_frame(&Message::Sync(message))
}

/// The awareness client ids and states an awareness message carries.
pub fn awareness_entries(message: Message) -> HashMap<u64, String> {
    let Message::Awareness(update) = message else {
        panic!("expected an awareness message, got {message:?}");
    };
    (update.clients.into_iter())
        .map(|(client, entry)| (client.get(), entry.json.to_string()))
        .collect()
}

/// The effect storing `update`.
pub fn persist(update: &[u8]) -> Outgoing {
    Outgoing::Persist {
        update: Bytes::copy_from_slice(update),
    }
}

/// The text of root "text" in a fresh document after applying `update`.
pub fn text_of_update(update: &[u8]) -> String {
    let doc = Doc::new();
    let decoded = Update::decode_v1(update).expect("a v1 update");
    doc.transact_mut().apply_update(decoded).expect("applies");
    contents(&doc).text
}

/// A room holding "hello" from storage.
pub fn room_with_hello() -> Room {
    let mut room = Room::new();
    let stored = text_update(99, "hello");
    room.handle_stored_update(&stored).unwrap();
    room
}

/// The recipient and the message of the only effect, which must be a Reply.
pub fn only_reply(effects: &[Outgoing]) -> (ConnectionId, Message) {
    let [Outgoing::Reply { to, frame }] = effects else {
        panic!("expected exactly one reply, got {effects:?}");
    };
    (*to, only_message(frame))
}

/// The `except` and the message of a Broadcast effect.
pub fn broadcast(effect: &Outgoing) -> (Option<ConnectionId>, Message) {
    let Outgoing::Broadcast { except, frame } = effect else {
        panic!("expected a broadcast, got {effect:?}");
    };
    (*except, only_message(frame))
}

/// The room still relays an edit from peer 0 to peer 1.
pub fn assert_still_serves(network: &mut Network) {
    network.edit(0, |roots, txn| {
        roots.map.insert(txn, "still", "serving");
    });
    network.settle();
    assert_eq!(
        contents(network.peers[1].client.doc()),
        contents(network.room.doc())
    );
    let map = network.room.doc().get_or_insert_map("map");
    assert!(map.contains_key(&network.room.doc().transact(), "still"));
}

/// Everything `room` has queued.
pub fn drain(room: &mut Room) -> Vec<Outgoing> {
    std::iter::from_fn(|| room.poll_outgoing()).collect()
}

/// A sync Update message carrying `update`.
pub fn update_message(update: &[u8]) -> Message {
    Message::Sync(SyncMessage::Update(update.to_vec()))
}

/// An awareness message announcing `json` for client `client_id` at clock 1.
pub fn awareness_message(client_id: u64, json: &str) -> Message {
    let entry = AwarenessUpdateEntry {
        clock: 1,
        json: json.into(),
    };
    let clients = HashMap::from([(ClientID::new(client_id), entry)]);
    Message::Awareness(AwarenessUpdate { clients })
}
