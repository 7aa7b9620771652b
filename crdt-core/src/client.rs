//! The client side of the sync, sans-IO: what a y-websocket provider does, for Rust.
//!
//! Used by Quire's end-to-end tests and convergence property tests, and meant for Rust editor
//! plugins: a transport feeds it connection events and frames, and sends what
//! [`SyncClient::poll_outgoing`] yields. Like the stock provider it opens with SyncStep1 and its
//! awareness state, answers the server's SyncStep1 with the missing updates, and sends local edits
//! as Update messages while connected; after a reconnect the state-vector exchange carries over
//! whatever was edited offline.
//!
//! Updates from the server are applied in transactions whose origin is [`REMOTE_ORIGIN`], so an
//! application observing the document (`Doc::observe_update_v1`) can tell its own edits, which it
//! must hand to [`SyncClient::handle_local_update`], from the server's, which it must not echo.
//!
//! The server's own SyncStep1 carries its state vector. Quire sends frames only once what they
//! answer is durable, so a server state vector covering this client's state is an
//! acknowledgement: [`SyncClient::handle_server_state_request`] asks for one and
//! [`SyncClient::server_has_local_state`] checks it.

use std::collections::VecDeque;

use bytes::Bytes;
use yrs::sync::{Awareness, AwarenessUpdate, Message, SyncMessage};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::error::ProtocolError;
use crate::pending::decode_update;
use crate::wire::{decode_frame, encode_frame, encode_update_frame};

/// The origin of the transactions that apply the server's updates to the document.
pub const REMOTE_ORIGIN: &str = "quire-sync-remote";

/// One client's view of one document.
pub struct SyncClient {
    awareness: Awareness,
    connected: bool,
    synced: bool,
    /// The state vector of the server's last SyncStep1 on the current connection.
    server_state: Option<StateVector>,
    /// How many SyncStep1 messages the server sent, over all connections.
    server_states_received: u64,
    permission_denied: Option<String>,
    outgoing: VecDeque<Bytes>,
}

impl SyncClient {
    /// A client editing `doc`.
    pub fn new(doc: Doc) -> Self {
        SyncClient {
            awareness: Awareness::new(doc),
            connected: false,
            synced: false,
            server_state: None,
            server_states_received: 0,
            permission_denied: None,
            outgoing: VecDeque::new(),
        }
    }

    /// The document being edited.
    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    /// Awareness states as this client knows them.
    pub fn awareness(&self) -> &Awareness {
        &self.awareness
    }

    /// True once the server's SyncStep2 arrived on the current connection.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// True between [`SyncClient::handle_connected`] and [`SyncClient::handle_disconnected`].
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The server's state vector as of its last SyncStep1 on the current connection.
    pub fn server_state(&self) -> Option<&StateVector> {
        self.server_state.as_ref()
    }

    /// How many state vectors (SyncStep1 messages) the server sent so far, over all
    /// connections: a waiter can tell a fresh answer from the one it already checked.
    pub fn server_states_received(&self) -> u64 {
        self.server_states_received
    }

    /// True when the server's last state vector (on this connection) covers everything this
    /// client's document holds: the server has stored all of it. False before any arrived.
    pub fn server_has_local_state(&self) -> bool {
        let Some(server) = &self.server_state else {
            return false;
        };
        let local = self.doc().transact().state_vector();
        local
            .iter()
            .all(|(client, clock)| server.get(client) >= *clock)
    }

    /// The reason of the last permission-denied auth message from the server.
    pub fn permission_denied(&self) -> Option<&str> {
        self.permission_denied.as_deref()
    }

    /// The transport connected: start the sync.
    pub fn handle_connected(&mut self) {
        self.connected = true;
        self.synced = false;
        self.server_state = None;
        let state = self.awareness.doc().transact().state_vector();
        self.send(&Message::Sync(SyncMessage::SyncStep1(state)));
        if self.awareness.local_state_raw().is_some() {
            self.send_local_awareness();
        }
    }

    /// The transport is gone; local edits wait for the next sync.
    pub fn handle_disconnected(&mut self) {
        self.connected = false;
        self.synced = false;
        self.server_state = None;
        self.outgoing.clear();
    }

    /// Asks the server for its state vector (a SyncStep1 of ours, which it answers with the
    /// updates we lack and its own SyncStep1), to learn whether it has stored our edits.
    pub fn handle_server_state_request(&mut self) {
        if self.connected {
            let state = self.doc().transact().state_vector();
            self.send(&Message::Sync(SyncMessage::SyncStep1(state)));
        }
    }

    /// Sends an update produced by a local transaction (`TransactionMut::encode_update_v1`).
    pub fn handle_local_update(&mut self, update: &[u8]) {
        if self.connected {
            self.outgoing.push_back(encode_update_frame(update));
        }
    }

    /// Sets this client's awareness state (a JSON object) and announces it.
    pub fn handle_local_awareness(&mut self, json: &str) {
        self.awareness.set_local_state_raw(json);
        if self.connected {
            self.send_local_awareness();
        }
    }

    /// Handles one frame from the server.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Result<(), ProtocolError> {
        for message in decode_frame(frame)? {
            match message {
                Message::Sync(SyncMessage::SyncStep1(remote_state)) => {
                    let diff = self.doc().transact().encode_diff_v1(&remote_state);
                    self.send(&Message::Sync(SyncMessage::SyncStep2(diff)));
                    self.server_state = Some(remote_state);
                    self.server_states_received += 1;
                }
                Message::Sync(SyncMessage::SyncStep2(update)) => {
                    self.apply_update(&update)?;
                    self.synced = true;
                }
                Message::Sync(SyncMessage::Update(update)) => self.apply_update(&update)?,
                Message::Awareness(update) => {
                    let own = self.awareness.client_id();
                    let removes_us = update
                        .clients
                        .get(&own)
                        .is_some_and(|entry| entry.json.as_ref() == "null");
                    // A malformed state from another client is theirs, not a reason to drop ours.
                    let _ = self.awareness.apply_update(update);
                    // The server dropped our state (we were away): yrs kept it and bumped its
                    // clock; announce it so the others see us again, as y-protocols clients do.
                    if removes_us && self.connected && self.awareness.local_state_raw().is_some() {
                        self.send_local_awareness();
                    }
                }
                Message::AwarenessQuery => {
                    let states = self.awareness.update().unwrap_or_else(|_| AwarenessUpdate {
                        clients: Default::default(),
                    });
                    self.send(&Message::Awareness(states));
                }
                Message::Auth(reason) => self.permission_denied = reason,
                Message::Custom(_, _) => {}
            }
        }
        Ok(())
    }

    /// The next frame to send, if any.
    pub fn poll_outgoing(&mut self) -> Option<Bytes> {
        self.outgoing.pop_front()
    }

    fn apply_update(&mut self, update: &[u8]) -> Result<(), ProtocolError> {
        let update = decode_update(update)?;
        self.doc()
            .transact_mut_with(REMOTE_ORIGIN)
            .apply_update(update)
            .map_err(ProtocolError::UpdateRejected)
    }

    fn send_local_awareness(&mut self) {
        let client = self.awareness.client_id();
        if let Ok(update) = self.awareness.update_with_clients([client]) {
            self.send(&Message::Awareness(update));
        }
    }

    fn send(&mut self, message: &Message) {
        self.outgoing.push_back(encode_frame(message));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use yrs::{GetString, Origin, Text};

    use super::*;
    use crate::room::{Access, Outgoing, Room};

    /// Delivers frames both ways between `client` and `room` until neither has anything to say.
    fn exchange(client: &mut SyncClient, room: &mut Room, connection: crate::ConnectionId) {
        loop {
            let mut quiet = true;
            while let Some(frame) = client.poll_outgoing() {
                quiet = false;
                room.handle_frame(connection, &frame).expect("room accepts");
            }
            while let Some(outgoing) = room.poll_outgoing() {
                if let Outgoing::Reply { to, frame } = outgoing
                    && to == connection
                {
                    quiet = false;
                    client.handle_frame(&frame).expect("client accepts");
                }
            }
            if quiet {
                return;
            }
        }
    }

    fn insert(client: &mut SyncClient, index: u32, chunk: &str) {
        let update = {
            let text = client.doc().get_or_insert_text("text");
            let mut transaction = client.doc().transact_mut();
            text.insert(&mut transaction, index, chunk);
            transaction.encode_update_v1()
        };
        client.handle_local_update(&update);
    }

    #[test]
    fn server_updates_are_applied_with_the_remote_origin() {
        let mut room = Room::new();
        {
            let text = room.doc().get_or_insert_text("text");
            text.insert(&mut room.doc().transact_mut(), 0, "from the room");
        }
        let mut client = SyncClient::new(Doc::new());
        let origins = Arc::new(Mutex::new(Vec::new()));
        let seen = origins.clone();
        client
            .doc()
            .observe_update_v1("test", move |transaction, _| {
                let remote = transaction.origin() == Some(&Origin::from(REMOTE_ORIGIN));
                seen.lock().unwrap().push(remote);
            })
            .unwrap();
        let connection = room.handle_connect(Access::ReadWrite);
        client.handle_connected();
        exchange(&mut client, &mut room, connection);
        assert!(client.is_synced());
        insert(&mut client, 0, "local ");
        let text = client.doc().get_or_insert_text("text");
        assert_eq!(
            text.get_string(&client.doc().transact()),
            "local from the room"
        );
        assert_eq!(*origins.lock().unwrap(), vec![true, false]);
    }

    #[test]
    fn server_state_acknowledges_local_edits_only_once_it_covers_them() {
        let mut room = Room::new();
        let mut client = SyncClient::new(Doc::new());
        let connection = room.handle_connect(Access::ReadWrite);
        client.handle_connected();
        assert!(!client.server_has_local_state(), "no server state yet");
        exchange(&mut client, &mut room, connection);
        assert!(client.server_has_local_state(), "nothing local to store");

        insert(&mut client, 0, "edit");
        assert!(
            !client.server_has_local_state(),
            "the last server state predates the edit"
        );
        let answers = client.server_states_received();
        client.handle_server_state_request();
        exchange(&mut client, &mut room, connection);
        assert_eq!(client.server_states_received(), answers + 1);
        assert!(client.server_has_local_state());

        client.handle_disconnected();
        assert!(client.server_state().is_none());
        assert!(!client.server_has_local_state());
    }

    #[test]
    fn server_state_requests_wait_for_a_connection() {
        let mut client = SyncClient::new(Doc::new());
        client.handle_server_state_request();
        assert!(client.poll_outgoing().is_none());
    }
}
