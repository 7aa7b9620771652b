//! The simulated room's clients: real Yjs clients (crdt-core's `SyncClient`) behind real frame
//! queues, which join, type, leave and read what they are sent, recording every update, and the
//! durable document they are checked against.

use bytes::Bytes;
use crdt_core::wire::decode_frame;
use crdt_core::{Access, ConnectionId, SyncClient};
use storage::DocStore;
use tokio::sync::oneshot;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Text, Transact};

use super::super::super::command::{
    CloseReason, ConnectionOutbox, Frame, Join, Leave, RoomCommand,
};
use super::super::super::frame_queue::{FrameReceiver, frame_queue};
use super::harness::{Harness, TEXT};

/// A client of the simulated room.
pub(super) struct Peer {
    pub(super) sync: SyncClient,
    pub(super) frames: FrameReceiver,
    pub(super) close: oneshot::Receiver<CloseReason>,
    /// Why the room closed it, once it has.
    pub(super) closed: Option<CloseReason>,
    /// Every update it was sent (SyncStep2 and Update payloads), in order.
    pub(super) updates_seen: Vec<Vec<u8>>,
}

impl Peer {
    pub(super) fn text(&self) -> String {
        let text = self.sync.doc().get_or_insert_text(TEXT);
        text.get_string(&self.sync.doc().transact())
    }
}

impl Harness {
    /// A join command for a new peer, and the receiver of its id.
    pub(super) fn join_command(
        &mut self,
        access: Access,
    ) -> (
        RoomCommand,
        oneshot::Receiver<Result<ConnectionId, CloseReason>>,
        Peer,
    ) {
        let (frames_sender, frames) = frame_queue(self.queue_frames, usize::MAX);
        let (close_sender, close) = oneshot::channel();
        let (joined, answer) = oneshot::channel();
        let command = RoomCommand::Join(Join {
            access,
            outbox: ConnectionOutbox::new(frames_sender, close_sender),
            joined,
        });
        let peer = Peer {
            sync: SyncClient::new(Doc::new()),
            frames,
            close,
            closed: None,
            updates_seen: Vec::new(),
        };
        (command, answer, peer)
    }

    /// Joins a peer and runs its sync as far as it goes; its connection id once admitted
    /// (admission waits behind persists in flight, then [`Harness::exchange`] completes it).
    pub(super) fn try_join(&mut self, access: Access) -> Option<ConnectionId> {
        let (command, answer, peer) = self.join_command(access);
        self.command(command);
        let admitted_before = self.peers.len();
        self.joining.push((answer, peer));
        self.exchange();
        (self.peers.len() > admitted_before)
            .then(|| *self.peers.keys().next_back().expect("a peer"))
    }

    /// Joins a peer into a room with nothing in flight; its connection id.
    pub(super) fn join(&mut self, access: Access) -> ConnectionId {
        self.try_join(access)
            .expect("the join was answered at once")
    }

    /// Admits the joiners whose answer has come.
    fn admit_joiners(&mut self) -> bool {
        let mut admitted = false;
        for (mut answer, mut peer) in std::mem::take(&mut self.joining) {
            match answer.try_recv() {
                Ok(Ok(connection)) => {
                    peer.sync.handle_connected();
                    self.peers.insert(connection, peer);
                    admitted = true;
                }
                Err(oneshot::error::TryRecvError::Empty) => self.joining.push((answer, peer)),
                Ok(Err(_)) | Err(oneshot::error::TryRecvError::Closed) => {}
            }
        }
        admitted
    }

    /// Peer `connection` types `text` at the end of its document (sent, not yet durable).
    pub(super) fn type_text(&mut self, connection: ConnectionId, text: &str) {
        let peer = self.peers.get_mut(&connection).expect("a peer");
        let doc = peer.sync.doc().clone();
        let update = {
            let shared = doc.get_or_insert_text(TEXT);
            let mut transaction = doc.transact_mut();
            let end = shared.len(&transaction);
            shared.insert(&mut transaction, end, text);
            transaction.encode_update_v1()
        };
        peer.sync.handle_local_update(&update);
        self.send_outgoing(connection);
    }

    /// Sends what peer `connection` has queued, as one batch; whether there was anything.
    pub(super) fn send_outgoing(&mut self, connection: ConnectionId) -> bool {
        let peer = self.peers.get_mut(&connection).expect("a peer");
        let frames: Vec<Bytes> = std::iter::from_fn(|| peer.sync.poll_outgoing()).collect();
        if frames.is_empty() {
            return false;
        }
        let commands = frames
            .into_iter()
            .map(|frame| {
                RoomCommand::Frame(Frame {
                    connection,
                    frame,
                    receipt: None,
                })
            })
            .collect();
        self.commands(commands);
        true
    }

    /// Peer `connection` leaves.
    pub(super) fn leave(&mut self, connection: ConnectionId) {
        self.peers.remove(&connection);
        self.command(RoomCommand::Leave(Leave { connection }));
    }

    /// Every peer reads what it was sent and answers, until nothing moves (persists still
    /// pending stay pending).
    pub(super) fn exchange(&mut self) {
        loop {
            let mut moved = self.admit_joiners();
            let connections: Vec<ConnectionId> = self.peers.keys().copied().collect();
            for connection in connections {
                let peer = self.peers.get_mut(&connection).expect("a peer");
                while let Ok(frame) = peer.frames.try_recv() {
                    moved = true;
                    for message in decode_frame(frame.bytes()).expect("the room sends valid frames")
                    {
                        if let Message::Sync(
                            SyncMessage::SyncStep2(update) | SyncMessage::Update(update),
                        ) = message
                        {
                            peer.updates_seen.push(update);
                        }
                    }
                    peer.sync
                        .handle_frame(frame.bytes())
                        .expect("a peer applies what it is sent");
                }
                if peer.closed.is_none()
                    && let Ok(reason) = peer.close.try_recv()
                {
                    peer.closed = Some(reason);
                }
                moved |= self.send_outgoing(connection);
            }
            if !moved {
                break;
            }
        }
    }

    /// The document the store holds durably.
    pub(super) fn durable_doc(&self) -> Doc {
        let loaded = self.store.load(&self.name).expect("the store loads");
        let doc = Doc::new();
        let mut transaction = doc.transact_mut();
        for update in loaded
            .snapshot
            .iter()
            .chain(loaded.updates.iter().map(|u| &u.bytes))
        {
            let update = yrs::Update::decode_v1(update).expect("stored updates decode");
            transaction
                .apply_update(update)
                .expect("stored updates apply");
        }
        drop(transaction);
        doc
    }

    /// The durable text.
    pub(super) fn durable_text(&self) -> String {
        let doc = self.durable_doc();
        let text = doc.get_or_insert_text(TEXT);
        text.get_string(&doc.transact())
    }
}
