//! One Hocuspocus socket: the task that serves every document a provider multiplexes on it.
//!
//! Like a `/ws` connection (see [`crate::connection`]) it is one task owning the socket, with the
//! same keepalive, message-rate limit, size limit, close codes and shutdown; what differs is that
//! each message names its document. A document opens when the client sends its token (Auth):
//! the token is checked for that document before its room is joined, so a refused client never
//! sees a byte of it, and the answer is Authenticated (with the scope) or PermissionDenied (with
//! the reason) for that document alone. Malformed frames, floods and lagging end the whole
//! socket with a close code, as on `/ws`.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use crdt_core::Access;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span};
use yrs::encoding::read::{Cursor, Read};

use crate::admission::authorize;
use crate::api_error::ApiError;
use crate::auth::{AccessLevel, Authenticator};
use crate::close_code;
use crate::config::ServeConfig;
use crate::connection::{Ending, ending_for_read_error, finish};
use crate::hocuspocus::codec::{self, ClientFrame, DocumentMessage};
use crate::hocuspocus::documents::{DocumentEvent, Documents};
use crate::limits::MessageRate;
use crate::room::CloseReason;
use crate::room::RoomRegistry;
use crate::room_name::validate_room_name;
use crate::telemetry;
use crate::websocket::send::feed_binary;
use crate::websocket::{Socket, SocketSink, SocketStream};

/// Frames written before a flush, so one slow flush does not hold back the queue forever.
const MAX_FRAMES_PER_FLUSH: usize = 256;

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

/// What one turn of the loop asks for: frames to send, then possibly the end.
type Turn = (Vec<Bytes>, Option<Ending>);

/// Serves one upgraded Hocuspocus socket until it ends.
///
/// Shaped like [`crate::connection::serve_connection`]: no async layer holding a second copy of
/// the socket, the socket split before the async fn (which keeps its arguments for its whole
/// life), and a `debug` span (nothing inside logs at `info`).
pub fn serve_session(socket: Socket, context: SessionContext) -> impl Future<Output = ()> + Send {
    let span = debug_span!("hocuspocus", peer = %context.peer);
    let (sink, stream) = socket.split();
    serve(sink, stream, context).instrument(span)
}

async fn serve(mut sink: SocketSink, mut stream: SocketStream, context: SessionContext) {
    let _open = telemetry::OpenConnection::new("hocuspocus");
    let context = &context;
    let config = &context.config;
    let mut documents = Documents::new(context.registry.clone(), config.max_message_bytes);
    let mut keepalive = tokio::time::interval(config.ping_interval());
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    keepalive.tick().await;
    let started = Instant::now();
    let mut last_heard = started;
    let mut asked_for_a_document = false;
    let mut rate = MessageRate::new(config.max_messages_per_second);

    let ending = loop {
        let (frames, ending): Turn = tokio::select! {
            biased;
            _ = context.shutdown.cancelled() => {
                (Vec::new(), Some(close(close_code::GOING_AWAY, "server shutting down")))
            }
            event = poll_fn(|cx| documents.poll_event(cx)) => match event {
                DocumentEvent::Joined(outcome) => match documents.complete_join(outcome).await {
                    Ok(frames) => (frames, None),
                    Err(reason) => (Vec::new(), Some(Ending::Close(reason))),
                },
                DocumentEvent::Send(frame) => collect_ready(&mut documents, frame),
                DocumentEvent::End(reason) => (Vec::new(), Some(Ending::Close(reason))),
            },
            message = stream.next() => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(Message::Binary(frame))) => {
                        count(&telemetry::FRAMES_RECEIVED, &frame);
                        if !rate.allow(last_heard.into_std()) {
                            telemetry::record_refusal("rate_limited");
                            let reason = "sending faster than the server allows";
                            (Vec::new(), Some(close(close_code::RATE_LIMITED, reason)))
                        } else {
                            asked_for_a_document |= frame_opens_a_document(&frame);
                            handle_frame(frame, &mut documents, context).await
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        telemetry::record_refusal("malformed_frame");
                        let reason = "text frames are not part of the Hocuspocus protocol";
                        (Vec::new(), Some(close(close_code::MALFORMED, reason)))
                    }
                    // Reading reassembles frames into messages: `Frame` only exists for writing.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                        (Vec::new(), None)
                    }
                    Some(Ok(Message::Close(_))) | None => (Vec::new(), Some(Ending::Gone)),
                    Some(Err(error)) => (Vec::new(), Some(ending_for_read_error(error))),
                }
            }
            _ = keepalive.tick() => {
                if last_heard.elapsed() >= config.idle_timeout() {
                    (Vec::new(), Some(close(close_code::KEEPALIVE_TIMEOUT, "no answer to keepalive pings")))
                } else if !asked_for_a_document && started.elapsed() >= config.idle_timeout() {
                    // A socket that never opens a document only holds a connection slot.
                    (Vec::new(), Some(close(close_code::KEEPALIVE_TIMEOUT, "no document was opened")))
                } else if sink.send(Message::Ping(Default::default())).await.is_err() {
                    (Vec::new(), Some(Ending::Gone))
                } else {
                    (Vec::new(), None)
                }
            }
        };
        if !frames.is_empty()
            && let Err(gone) = write_frames(&mut sink, frames, context).await
        {
            break gone;
        }
        if let Some(ending) = ending {
            break ending;
        }
    };
    documents.leave_all().await;
    Box::pin(finish(sink, stream, ending, &context.shutdown, config)).await;
}

/// Handles one binary frame from the client.
async fn handle_frame(frame: Bytes, documents: &mut Documents, context: &SessionContext) -> Turn {
    let decoded = match codec::decode_client_frame(&frame) {
        Ok(decoded) => decoded,
        Err(error) => {
            debug!(%error, "closing after a malformed frame");
            telemetry::record_refusal("malformed_frame");
            return (
                Vec::new(),
                Some(close(close_code::MALFORMED, &error.to_string())),
            );
        }
    };
    let (address, message) = match decoded {
        ClientFrame::Ping => return (vec![codec::pong()], None),
        ClientFrame::Pong => return (Vec::new(), None),
        ClientFrame::Document { address, message } => (address, message),
    };
    let handled = match message {
        DocumentMessage::Auth { token } => Ok(open_document(documents, &address, &token, context)),
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
        Ok(frames) => (frames, None),
        Err(reason) => (Vec::new(), Some(Ending::Close(reason))),
    }
}

/// Checks `token` for the document at `address` and starts opening it; the frames to send now
/// (PermissionDenied when refused; Authenticated follows once the room is joined).
fn open_document(
    documents: &mut Documents,
    address: &str,
    token: &str,
    context: &SessionContext,
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
        Ok(()) => match grant(context.authenticator.as_ref(), token, name) {
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

/// `first` and whatever other frames are already queued, up to one flush's worth, and the end of
/// the socket if a document asked for it meanwhile.
fn collect_ready(documents: &mut Documents, first: Bytes) -> Turn {
    let mut frames = vec![first];
    // Only what is ready now: the next turn of the loop waits with a real waker.
    let mut context = Context::from_waker(Waker::noop());
    while frames.len() < MAX_FRAMES_PER_FLUSH {
        match documents.poll_outgoing(&mut context) {
            Poll::Ready(DocumentEvent::Send(frame)) => frames.push(frame),
            Poll::Ready(DocumentEvent::End(reason)) => {
                return (frames, Some(Ending::Close(reason)));
            }
            Poll::Ready(DocumentEvent::Joined(_)) | Poll::Pending => break,
        }
    }
    (frames, None)
}

/// Writes `frames` and flushes once; a client that stops reading for the idle timeout is dropped,
/// and shutdown abandons the write (a close frame could not get through anyway).
async fn write_frames(
    sink: &mut SocketSink,
    frames: Vec<Bytes>,
    context: &SessionContext,
) -> Result<(), Ending> {
    let writing = async {
        for frame in frames {
            count(&telemetry::FRAMES_SENT, &frame);
            feed_binary(sink, frame).await?;
        }
        sink.flush().await
    };
    tokio::select! {
        biased;
        _ = context.shutdown.cancelled() => Err(Ending::Gone),
        written = tokio::time::timeout(context.config.idle_timeout(), writing) => match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ending::Gone),
            Err(_) => {
                debug!("dropping a client that has not read for the idle timeout");
                Err(Ending::Gone)
            }
        },
    }
}

fn close(code: u16, reason: &str) -> Ending {
    Ending::Close(CloseReason::new(code, reason))
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
