//! The documents one Hocuspocus socket has open: its multiplexer over room memberships.
//!
//! Each document is a membership in its room, exactly as a `/ws` connection is, so rooms need not
//! know the socket is shared. Joining loads the document, which may take a while, so joins run
//! concurrently inside the socket's task (a slow load does not hold up the other documents) and
//! the client's messages for a document still joining wait in a bounded queue, in order.
//! Outgoing, the frames of every open document are polled round-robin from the rooms' bounded
//! queues and prefixed with the document's address, encoded once when the document opened.
//!
//! Writes are acknowledged through the room's receipts: an update goes to the room with the
//! SyncStatus message as its receipt, which the room queues back only once the update is durable,
//! in order with everything else it sends this client.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::room::frame_queue::FrameReceiver;
use bytes::Bytes;
use crdt_core::Access;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tracing::debug;
use websocket_deflate::SharedMessage;

use crate::close_code;
use crate::hocuspocus::codec::{self, RoomMessage};
use crate::hocuspocus::forward::{address_room_frame, forward, relay, room_stopped};
use crate::room::CloseReason;
use crate::room::{JoinError, Membership, RoomRegistry};
use crate::telemetry;

/// Documents one socket may have open (or opening) at once. Each is a room membership with its
/// own queue, so the bound keeps one socket from holding an unbounded share of the server; an
/// editor showing a hundred documents at once is far beyond what people do.
pub const MAX_DOCUMENTS_PER_SOCKET: usize = 100;

/// Messages that may wait, over all documents of a socket, for their documents to open.
const MAX_WAITING_MESSAGES: usize = 256;

/// Why a document could not be opened on this socket.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The document is already open (or opening) under this address.
    #[error("the document is already open on this connection")]
    AlreadyOpen,
    /// The socket has [`MAX_DOCUMENTS_PER_SOCKET`] documents open.
    #[error("this connection has {MAX_DOCUMENTS_PER_SOCKET} documents open; close one first")]
    TooManyDocuments,
}

/// What needs the socket's attention.
pub enum DocumentEvent {
    /// A document's join finished; hand it to [`Documents::complete_join`].
    Joined(JoinOutcome),
    /// A frame to send the client.
    Send(SharedMessage),
    /// The socket must close (a room stopped, or the client fell behind).
    End(CloseReason),
}

/// The result of joining a document's room.
pub struct JoinOutcome {
    address: String,
    attempt: u64,
    joined: Result<Membership, JoinError>,
}

/// A message for a document that is still joining.
enum Waiting {
    Room { kind: RoomMessage, frame: Bytes },
    Stateless { frame: Bytes },
}

enum DocumentState {
    Joining { waiting: Vec<Waiting> },
    Open(Membership),
}

struct Document {
    /// The address as the client wrote it (the name, or `name\0session`).
    address: String,
    /// The encoded address, prefixed to every frame for this document.
    prefix: Bytes,
    access: Access,
    /// Tells this join's outcome from an earlier one of the same address.
    attempt: u64,
    state: DocumentState,
}

/// The documents of one socket.
pub struct Documents {
    registry: RoomRegistry,
    documents: Vec<Document>,
    joins: FuturesUnordered<BoxFuture<'static, JoinOutcome>>,
    next_attempt: u64,
    /// Where the next round-robin poll of outgoing frames starts.
    next_poll: usize,
    waiting_messages: usize,
    waiting_bytes: usize,
    /// Most bytes that may wait for documents to open, over all documents.
    max_waiting_bytes: usize,
}

impl Documents {
    /// No documents yet; rooms are joined in `registry`, and at most `max_waiting_bytes` of the
    /// client's messages wait for documents to open.
    pub fn new(registry: RoomRegistry, max_waiting_bytes: usize) -> Self {
        Documents {
            registry,
            documents: Vec::new(),
            joins: FuturesUnordered::new(),
            next_attempt: 0,
            next_poll: 0,
            waiting_messages: 0,
            waiting_bytes: 0,
            max_waiting_bytes,
        }
    }

    /// Whether `address` is open or opening.
    pub fn contains(&self, address: &str) -> bool {
        self.position(address).is_some()
    }

    /// Starts joining room `name` for `address` with `access`; the outcome comes as
    /// [`DocumentEvent::Joined`].
    pub fn open(&mut self, address: &str, name: &str, access: Access) -> Result<(), OpenError> {
        if self.contains(address) {
            return Err(OpenError::AlreadyOpen);
        }
        if self.documents.len() >= MAX_DOCUMENTS_PER_SOCKET {
            telemetry::record_refusal("too_many_documents");
            return Err(OpenError::TooManyDocuments);
        }
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        self.documents.push(Document {
            address: address.to_owned(),
            prefix: codec::encode_address(address),
            access,
            attempt,
            state: DocumentState::Joining {
                waiting: Vec::new(),
            },
        });
        let registry = self.registry.clone();
        let (address, name) = (address.to_owned(), name.to_owned());
        // Dropping this future mid-join (the socket closed) drops the room's answer channel, and
        // the room then forgets the connection it was adding.
        self.joins.push(Box::pin(async move {
            let joined = registry.join_receiving_relays(&name, access).await;
            JoinOutcome {
                address,
                attempt,
                joined,
            }
        }));
        Ok(())
    }

    /// Finishes a join: Authenticated and the document's waiting messages, or PermissionDenied
    /// when its room could not be joined. Returns the frames to send the client.
    pub async fn complete_join(&mut self, outcome: JoinOutcome) -> Result<Vec<Bytes>, CloseReason> {
        let JoinOutcome {
            address,
            attempt,
            joined,
        } = outcome;
        let found = self
            .position(&address)
            .filter(|&index| self.documents[index].attempt == attempt);
        let Some(index) = found else {
            // The client closed the document while it was joining.
            if let Ok(membership) = joined {
                membership.room.leave(membership.connection).await;
            }
            return Ok(Vec::new());
        };
        let membership = match joined {
            Ok(membership) => membership,
            Err(error) => {
                let document = self.remove(index);
                debug!(document = %document.address, %error, "cannot open the document");
                let reason = match error {
                    JoinError::Refused(reason) => reason.reason,
                    other => other.to_string(),
                };
                return Ok(vec![codec::permission_denied(&document.prefix, &reason)]);
            }
        };
        let document = &mut self.documents[index];
        let mut replies = vec![codec::authenticated(&document.prefix, document.access)];
        let DocumentState::Joining { waiting } =
            std::mem::replace(&mut document.state, DocumentState::Open(membership))
        else {
            unreachable!("only joining documents have joins in flight");
        };
        for message in waiting {
            self.waiting_messages -= 1;
            let reply = match message {
                Waiting::Room { kind, frame } => {
                    self.waiting_bytes -= frame.len();
                    forward_open(&self.documents[index], kind, frame).await?
                }
                Waiting::Stateless { frame } => {
                    self.waiting_bytes -= frame.len();
                    relay_open(&self.documents[index], frame).await?;
                    None
                }
            };
            replies.extend(reply);
        }
        Ok(replies)
    }

    /// Hands a sync, awareness or awareness-query message to the document's room (or queues it
    /// while the document opens). Returns a frame to send the client at once, if any. Messages
    /// for documents that are not open are dropped: the client was refused or closed them.
    pub async fn handle_room_message(
        &mut self,
        address: &str,
        kind: RoomMessage,
        frame: Bytes,
    ) -> Result<Option<Bytes>, CloseReason> {
        let Some(index) = self.position(address) else {
            debug!(document = %address, "dropping a message for a document that is not open");
            return Ok(None);
        };
        if matches!(self.documents[index].state, DocumentState::Joining { .. }) {
            self.wait(index, frame.len(), Waiting::Room { kind, frame })?;
            return Ok(None);
        }
        forward_open(&self.documents[index], kind, frame).await
    }

    /// Relays a stateless message to the document's other clients.
    pub async fn handle_stateless(
        &mut self,
        address: &str,
        frame: Bytes,
    ) -> Result<(), CloseReason> {
        let Some(index) = self.position(address) else {
            return Ok(());
        };
        if matches!(self.documents[index].state, DocumentState::Joining { .. }) {
            return self.wait(index, frame.len(), Waiting::Stateless { frame });
        }
        relay_open(&self.documents[index], frame).await
    }

    /// The client is done with `address`: leaves its room.
    pub async fn close(&mut self, address: &str) {
        if let Some(index) = self.position(address) {
            let document = self.remove(index);
            if let DocumentState::Open(membership) = document.state {
                membership.room.leave(membership.connection).await;
            }
        }
    }

    /// Leaves every room; joins still in flight are abandoned when `self` is dropped.
    pub async fn leave_all(&mut self) {
        while let Some(document) = self.documents.pop() {
            if let DocumentState::Open(membership) = document.state {
                membership.room.leave(membership.connection).await;
            }
        }
    }

    /// The next join outcome or outgoing frame.
    pub fn poll_event(&mut self, context: &mut Context<'_>) -> Poll<DocumentEvent> {
        if !self.joins.is_empty()
            && let Poll::Ready(Some(outcome)) = self.joins.poll_next_unpin(context)
        {
            return Poll::Ready(DocumentEvent::Joined(outcome));
        }
        self.poll_outgoing(context)
    }

    /// The next outgoing frame of any open document, round-robin so a busy document cannot
    /// starve the others. A document the room closed for this client leaves the set with a Close
    /// message; other closes end the socket.
    pub fn poll_outgoing(&mut self, context: &mut Context<'_>) -> Poll<DocumentEvent> {
        let count = self.documents.len();
        for step in 0..count {
            let index = (self.next_poll + step) % count;
            let Some(event) = self.poll_document(index, context) else {
                continue;
            };
            self.next_poll = (index + 1) % count.max(1);
            return Poll::Ready(event);
        }
        Poll::Pending
    }

    fn poll_document(&mut self, index: usize, context: &mut Context<'_>) -> Option<DocumentEvent> {
        let document = &mut self.documents[index];
        let DocumentState::Open(membership) = &mut document.state else {
            return None;
        };
        // A close is looked at first: after one, queued frames must not be sent (the room
        // stopped sending them at a gap).
        if let Poll::Ready(closed) = Pin::new(&mut membership.close).poll(context) {
            return Some(self.handle_room_close(index, closed));
        }
        match poll_frames(&mut membership.frames, context)? {
            // Framed once for every socket of this document: a large message, and its
            // compressed form, are then shared by them all like the room's own.
            Some(frame) => Some(DocumentEvent::Send(
                frame.derived(&document.prefix, |bytes| {
                    address_room_frame(&document.prefix, bytes)
                }),
            )),
            None => Some(self.handle_room_close(index, Err(()))),
        }
    }

    /// The room closed `index` for this client: documents deleted or refused for size close
    /// alone; every other reason (fell behind, malformed input, room stopped) ends the socket,
    /// since the provider only resyncs a document when its socket reconnects.
    fn handle_room_close(
        &mut self,
        index: usize,
        closed: Result<CloseReason, impl Sized>,
    ) -> DocumentEvent {
        let document = self.remove(index);
        match closed {
            Ok(reason)
                if matches!(
                    reason.code,
                    close_code::DOCUMENT_DELETED | close_code::DOCUMENT_TOO_LARGE
                ) =>
            {
                debug!(document = %document.address, reason = %reason.reason, "document closed");
                DocumentEvent::Send(SharedMessage::new(codec::close(
                    &document.prefix,
                    &reason.reason,
                )))
            }
            Ok(reason) => DocumentEvent::End(reason),
            Err(_) => DocumentEvent::End(room_stopped()),
        }
    }

    fn wait(&mut self, index: usize, bytes: usize, message: Waiting) -> Result<(), CloseReason> {
        if self.waiting_messages >= MAX_WAITING_MESSAGES
            || self.waiting_bytes + bytes > self.max_waiting_bytes
        {
            return Err(CloseReason::new(
                close_code::TRY_AGAIN_LATER,
                "too many messages sent before their documents opened",
            ));
        }
        if let DocumentState::Joining { waiting } = &mut self.documents[index].state {
            waiting.push(message);
            self.waiting_messages += 1;
            self.waiting_bytes += bytes;
        }
        Ok(())
    }

    fn remove(&mut self, index: usize) -> Document {
        let document = self.documents.remove(index);
        if let DocumentState::Joining { waiting } = &document.state {
            self.waiting_messages -= waiting.len();
            self.waiting_bytes -= waiting
                .iter()
                .map(|message| match message {
                    Waiting::Room { frame, .. } | Waiting::Stateless { frame } => frame.len(),
                })
                .sum::<usize>();
        }
        document
    }

    fn position(&self, address: &str) -> Option<usize> {
        self.documents
            .iter()
            .position(|document| document.address == address)
    }
}

/// `Some(None)` once the room dropped the queue, `None` when nothing is ready.
fn poll_frames(
    frames: &mut FrameReceiver,
    context: &mut Context<'_>,
) -> Option<Option<SharedMessage>> {
    match frames.poll_recv(context) {
        Poll::Ready(frame) => Some(frame),
        Poll::Pending => None,
    }
}

/// Hands a message to the document's room if it is open. (A free function: the socket's join
/// futures are not `Sync`, so `&Documents` must not be held across an await.)
async fn forward_open(
    document: &Document,
    kind: RoomMessage,
    frame: Bytes,
) -> Result<Option<Bytes>, CloseReason> {
    match &document.state {
        DocumentState::Open(membership) => {
            forward(membership, &document.prefix, document.access, kind, frame).await
        }
        DocumentState::Joining { .. } => Ok(None),
    }
}

/// Relays a stateless message through the document's room if it is open.
async fn relay_open(document: &Document, frame: Bytes) -> Result<(), CloseReason> {
    match &document.state {
        DocumentState::Open(membership) => relay(membership, frame).await,
        DocumentState::Joining { .. } => Ok(()),
    }
}
