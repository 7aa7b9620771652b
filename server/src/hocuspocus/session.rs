//! One Hocuspocus socket: the protocol that serves every document a provider multiplexes on it.
//!
//! The socket runs the shared [`crate::socket_loop`] (keepalive, message-rate limit, size limit,
//! close codes, batching, shutdown, as on `/ws`) with [`Hocuspocus`]; what differs is that each
//! message names its document. A document opens when the client sends its token (Auth): the
//! token is checked for that document before its room is joined, so a refused client never
//! sees a byte of it, and the answer is Authenticated (with the scope) or PermissionDenied (with
//! the reason) for that document alone. Malformed frames end the whole socket with a close code,
//! as on `/ws`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use crdt_core::Access;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span};
use yrs::encoding::read::{Cursor, Read};

use crate::admission::authorize;
use crate::api_error::ApiError;
use crate::auth::{AccessLevel, Authenticator};
use crate::close_code;
use crate::config::ServeConfig;
use crate::hocuspocus::codec::{self, ClientFrame, DocumentMessage};
use crate::hocuspocus::documents::{DocumentEvent, Documents, JoinOutcome};
use crate::room::RoomRegistry;
use crate::room_name::validate_room_name;
use crate::socket_loop::{self, Ending, Outgoing, Protocol, Reply};
use crate::telemetry;
use crate::websocket::Socket;

/// Everything a Hocuspocus socket needs besides the socket.
pub struct SessionContext {
    /// Who is connecting, for logs.
    pub peer: SocketAddr,
    /// The rooms in memory.
    pub registry: RoomRegistry,
    /// Server settings.
    pub config: Arc<ServeConfig>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Checks tokens; `None` when Quire runs open.
    pub authenticator: Option<Authenticator>,
}

/// Serves one upgraded Hocuspocus socket until it ends.
///
/// Shaped like [`crate::connection::serve_connection`]: no async layer holding a second copy of
/// the socket, the socket split before the async fn (which keeps its arguments for its whole
/// life), and a `debug` span (nothing inside logs at `info`).
pub fn serve_session(socket: Socket, context: SessionContext) -> impl Future<Output = ()> + Send {
    let span = debug_span!("hocuspocus", peer = %context.peer);
    let (mut sink, mut stream) = socket.websocket.split();
    let deflate = socket.deflate;
    let mut protocol = Hocuspocus {
        documents: Documents::new(context.registry.clone(), context.config.max_message_bytes),
        authenticator: context.authenticator.clone(),
        asked_for_a_document: false,
        opened: Instant::now(),
    };
    async move {
        let (config, shutdown) = (&context.config, &context.shutdown);
        let deflate = deflate.as_ref();
        socket_loop::run(
            &mut sink,
            &mut stream,
            deflate,
            &mut protocol,
            config,
            shutdown,
        )
        .await;
    }
    .instrument(span)
}

/// Hocuspocus: many documents on one socket, each message prefixed with its document's name.
struct Hocuspocus {
    documents: Documents,
    authenticator: Option<Authenticator>,
    /// Whether the client ever sent a token (what opens a document).
    asked_for_a_document: bool,
    /// When the socket opened.
    opened: Instant,
}

impl Protocol for Hocuspocus {
    /// A document's join that finished, to be answered on the socket's task.
    type Work = JoinOutcome;

    const NAME: &'static str = "hocuspocus";
    const TEXT_REFUSAL: &'static str = "text frames are not part of the Hocuspocus protocol";

    fn poll_outgoing(&mut self, context: &mut Context<'_>) -> Poll<Outgoing<Self::Work>> {
        self.documents.poll_event(context).map(|event| match event {
            DocumentEvent::Joined(outcome) => Outgoing::Resume(outcome),
            DocumentEvent::Send(frame) => Outgoing::Send(frame),
            DocumentEvent::End(reason) => Outgoing::End(Ending::Close(reason)),
        })
    }

    async fn resume(&mut self, outcome: JoinOutcome) -> Reply {
        match self.documents.complete_join(outcome).await {
            Ok(frames) => Reply::Send(frames),
            Err(reason) => Reply::End(Ending::Close(reason)),
        }
    }

    async fn handle_frame(&mut self, frame: Bytes) -> Reply {
        self.asked_for_a_document |= frame_opens_a_document(&frame);
        let decoded = match codec::decode_client_frame(&frame) {
            Ok(decoded) => decoded,
            Err(error) => {
                debug!(%error, "closing after a malformed frame");
                telemetry::record_refusal("malformed_frame");
                return Reply::End(Ending::close(close_code::MALFORMED, &error.to_string()));
            }
        };
        let (address, message) = match decoded {
            ClientFrame::Ping => return Reply::Send(vec![codec::pong()]),
            ClientFrame::Pong => return Reply::Nothing,
            ClientFrame::Document { address, message } => (address, message),
        };
        let documents = &mut self.documents;
        let handled = match message {
            DocumentMessage::Auth { token } => Ok(open_document(
                documents,
                &address,
                &token,
                self.authenticator.as_ref(),
            )),
            DocumentMessage::Room { kind, frame } => documents
                .handle_room_message(&address, kind, frame)
                .await
                .map(|reply| reply.into_iter().collect()),
            DocumentMessage::Stateless { frame } => documents
                .handle_stateless(&address, frame)
                .await
                .map(|()| Vec::new()),
            DocumentMessage::Close => {
                documents.close(&address).await;
                Ok(Vec::new())
            }
            DocumentMessage::Ignored { message_type } => {
                debug!(document = %address, message_type, "ignoring a message type clients do not send");
                Ok(Vec::new())
            }
        };
        match handled {
            Ok(frames) => Reply::Send(frames),
            Err(reason) => Reply::End(Ending::Close(reason)),
        }
    }

    fn check_idle(&self, idle_timeout: Duration) -> Option<Ending> {
        // A socket that never opens a document only holds a connection slot.
        (!self.asked_for_a_document && self.opened.elapsed() >= idle_timeout)
            .then(|| Ending::close(close_code::KEEPALIVE_TIMEOUT, "no document was opened"))
    }

    fn count(counters: &telemetry::FrameCounters, frame: &[u8]) {
        count(counters, frame);
    }

    async fn leave(&mut self) {
        self.documents.leave_all().await;
    }
}

/// Checks `token` for the document at `address` and starts opening it; the frames to send now
/// (PermissionDenied when refused; Authenticated follows once the room is joined).
fn open_document(
    documents: &mut Documents,
    address: &str,
    token: &str,
    authenticator: Option<&Authenticator>,
) -> Vec<Bytes> {
    if documents.contains(address) {
        // Tokens are checked when a document opens; a second one changes nothing.
        debug!(document = %address, "ignoring a token for a document already open");
        return Vec::new();
    }
    // Session-aware providers address `name\0session`; the room is the name.
    let name = address.split('\0').next().unwrap_or_default();
    let refusal = match validate_room_name(name) {
        Err(error) => {
            telemetry::record_refusal("invalid_room_name");
            error.to_string()
        }
        Ok(()) => match grant(authenticator, token, name) {
            Err(refusal) => {
                // Answered inside the socket, not as an HTTP response: counted here.
                telemetry::record_refusal(refusal.code);
                refusal.message
            }
            Ok(access) => match documents.open(address, name, access) {
                Ok(()) => return Vec::new(),
                Err(error) => error.to_string(),
            },
        },
    };
    debug!(document = %address, reason = %refusal, "permission denied");
    vec![codec::permission_denied(
        &codec::encode_address(address),
        &refusal,
    )]
}

/// What `token` allows on document `name`, decided as on `/ws` and `/api`: a `read` token makes
/// the document read-only; without `--auth-secret` any token (or none) may read and write.
fn grant(
    authenticator: Option<&Authenticator>,
    token: &str,
    name: &str,
) -> Result<Access, ApiError> {
    match authorize(authenticator, Some(token), name, AccessLevel::Read)? {
        AccessLevel::Read => Ok(Access::ReadOnly),
        AccessLevel::Write | AccessLevel::Admin => Ok(Access::ReadWrite),
    }
}

/// Whether a frame is an Auth message (what opens a document), judged cheaply.
fn frame_opens_a_document(frame: &[u8]) -> bool {
    message_after_address(frame).first() == Some(&codec::MESSAGE_AUTH)
}

/// The bytes after a frame's address (empty when there is none).
fn message_after_address(frame: &[u8]) -> &[u8] {
    let mut cursor = Cursor::new(frame);
    match cursor.read_buf() {
        Ok(_) => &frame[cursor.next..],
        Err(_) => &[],
    }
}

/// Counts a frame by the type of the message after its address.
fn count(counters: &telemetry::FrameCounters, frame: &[u8]) {
    use telemetry::FrameType;
    let frame_type = match frame {
        [codec::MESSAGE_PING] => FrameType::Ping,
        [codec::MESSAGE_PONG] => FrameType::Pong,
        _ => {
            let message = message_after_address(frame);
            match message.first() {
                Some(&codec::MESSAGE_STATELESS) => FrameType::Stateless,
                Some(&codec::MESSAGE_CLOSE) => FrameType::Close,
                Some(&codec::MESSAGE_SYNC_STATUS) => FrameType::SyncStatus,
                _ => FrameType::of_frame(message),
            }
        }
    };
    counters.count(frame_type, frame.len());
}
