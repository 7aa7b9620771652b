//! The client side of the sync, sans-IO: what a y-websocket provider does, for Rust.
//!
//! Used by Quire's end-to-end tests and convergence property tests, and meant for Rust editor
//! plugins: a transport feeds it connection events and frames, and sends what
//! [`SyncClient::poll_outgoing`] yields. Like the stock provider it opens with SyncStep1 and its
//! awareness state, answers the server's SyncStep1 with the missing updates, and sends local edits
//! as Update messages while connected; after a reconnect the state-vector exchange carries over
//! whatever was edited offline.

use std::collections::VecDeque;

use bytes::Bytes;
use yrs::sync::{Awareness, AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

use crate::error::ProtocolError;
use crate::wire::{decode_frame, encode_frame, encode_update_frame};

/// One client's view of one document.
pub struct SyncClient {
    awareness: Awareness,
    connected: bool,
    synced: bool,
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

    /// The reason of the last permission-denied auth message from the server.
    pub fn permission_denied(&self) -> Option<&str> {
        self.permission_denied.as_deref()
    }

    /// The transport connected: start the sync.
    pub fn handle_connected(&mut self) {
        self.connected = true;
        self.synced = false;
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
        self.outgoing.clear();
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
        let update = Update::decode_v1(update).map_err(ProtocolError::MalformedUpdate)?;
        self.doc()
            .transact_mut()
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
