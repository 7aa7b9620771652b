//! One WebSocket connection: the task that moves frames between a client and its room.
//!
//! A single task per connection reads the client's frames into the room's queue and writes the
//! room's frames out, batching whatever is queued into one flush. It owns the connection's
//! lifecycle: keepalive pings, the close code for every way a connection ends (shutdown, slow
//! consumer, malformed or oversized input, silence), and telling the room it left. An error here
//! ends this connection only.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as SocketError, Message};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span};

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use crdt_core::Access;

use crate::admission::{NamedDocument, admit_socket};
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::auth::AccessLevel;
use crate::close_code;
use crate::config::ServeConfig;
use crate::limits::MessageRate;
use crate::room::CloseReason;
use crate::room::{JoinError, Membership, RoomRegistry};
use crate::telemetry;
use crate::websocket::send::feed_binary;
use crate::websocket::{Handshake, HandshakeError, Socket, SocketSink, SocketStream};

/// How long a closing connection waits for the client's close reply.
const CLOSE_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Frames written before a flush, so one slow flush does not hold back the queue forever.
const MAX_FRAMES_PER_FLUSH: usize = 256;

/// Everything a connection task needs besides its socket.
pub struct ConnectionContext {
    /// The room to join.
    pub room: String,
    /// Who is connecting, for logs.
    pub peer: SocketAddr,
    /// What the connection may do.
    pub access: Access,
    /// The rooms in memory.
    pub registry: RoomRegistry,
    /// Server settings.
    pub config: Arc<ServeConfig>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
}

/// How a connection loop ended.
pub(crate) enum Ending {
    /// Send this close frame, then end.
    Close(CloseReason),
    /// The client is gone (closed, reset); nothing to send.
    Gone,
}

/// Serves one upgraded WebSocket until it ends.
///
/// A plain function returning the future, not an `async fn` around another one: each async
/// layer would keep its own copy of the socket and context for the connection's whole life.
/// The span is `debug`: nothing inside a connection logs at `info`, and an enabled span costs
/// every idle connection a few hundred bytes.
pub fn serve_connection(
    socket: Socket,
    context: ConnectionContext,
) -> impl Future<Output = ()> + Send {
    let span = debug_span!("connection", room = %context.room, peer = %context.peer);
    // Split here, not inside `serve`: an async fn keeps its arguments for its whole life, and
    // the socket before the split is most of a kilobyte next to the two handles after it.
    let (sink, stream) = socket.split();
    serve(sink, stream, context).instrument(span)
}

async fn serve(mut sink: SocketSink, mut stream: SocketStream, context: ConnectionContext) {
    let _open = telemetry::OpenConnection::new("y-websocket");
    // Boxed, like `finish` below: a future entered once would otherwise keep its size in this
    // one for the connection's whole life.
    let membership = match Box::pin(context.registry.join(&context.room, context.access)).await {
        Ok(membership) => membership,
        Err(error) => {
            let code = match &error {
                JoinError::TooManyRooms(_) => close_code::TRY_AGAIN_LATER,
                JoinError::Refused(reason) => reason.code,
                JoinError::RoomUnavailable(_) => close_code::INTERNAL_ERROR,
            };
            let reason = CloseReason::new(code, &error.to_string());
            let _ = sink.send(close_message(reason)).await;
            return;
        }
    };
    debug!(connection = %membership.connection, "joined");
    let Membership {
        room,
        connection,
        mut frames,
        mut close,
    } = membership;

    let mut keepalive = tokio::time::interval(context.config.ping_interval());
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    keepalive.tick().await;
    let mut last_heard = Instant::now();
    let mut rate = MessageRate::new(context.config.max_messages_per_second);

    // One wait for shutdown for the connection's life: made anew each turn, it would join and
    // leave the token's list of waiters (a lock each way) for every frame.
    let mut shutdown = std::pin::pin!(context.shutdown.cancelled());
    let ending = loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => {
                break Ending::Close(CloseReason::new(close_code::GOING_AWAY, "server shutting down"));
            }
            reason = &mut close => {
                break Ending::Close(reason.unwrap_or_else(|_| {
                    CloseReason::new(close_code::INTERNAL_ERROR, "room stopped")
                }));
            }
            frame = frames.recv() => {
                let Some(frame) = frame else {
                    break Ending::Close(CloseReason::new(close_code::INTERNAL_ERROR, "room stopped"));
                };
                // Boxed here and below: what a branch awaits would otherwise be part of every
                // idle connection's task, for the connection's whole life (W7).
                let mut writing = Box::pin(write_frames(&mut sink, frame, &mut frames));
                // Almost every write completes at once, the socket having room. One that waits
                // is a client that stopped reading and filled its socket: only then is the write
                // bounded, and made to give way to shutdown (a close frame could not get through
                // anyway), which spares arming a timer for every write.
                let written = match poll_once(&mut writing).await {
                    Poll::Ready(written) => Ok(written),
                    Poll::Pending => tokio::select! {
                        biased;
                        _ = &mut shutdown => break Ending::Gone,
                        written = tokio::time::timeout(context.config.idle_timeout(), writing) => written,
                    },
                };
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break Ending::Gone,
                    Err(_) => {
                        debug!("dropping a client that has not read for the idle timeout");
                        break Ending::Gone;
                    }
                }
            }
            message = stream.next() => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(Message::Binary(frame))) => {
                        count_frame(&telemetry::FRAMES_RECEIVED, &frame);
                        if !rate.allow(last_heard.into_std()) {
                            telemetry::record_refusal("rate_limited");
                            break Ending::Close(CloseReason::new(
                                close_code::RATE_LIMITED,
                                "sending faster than the server allows",
                            ));
                        }
                        if !Box::pin(room.send_frame(connection, frame)).await {
                            break Ending::Close(CloseReason::new(close_code::INTERNAL_ERROR, "room stopped"));
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        telemetry::record_refusal("malformed_frame");
                        break Ending::Close(CloseReason::new(
                            close_code::MALFORMED,
                            "text frames are not part of the Yjs sync protocol",
                        ));
                    }
                    // Reading reassembles frames into messages: `Frame` only exists for writing.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break Ending::Gone,
                    Some(Err(error)) => break ending_for_read_error(error),
                }
            }
            _ = keepalive.tick() => {
                if last_heard.elapsed() >= context.config.idle_timeout() {
                    break Ending::Close(CloseReason::new(
                        close_code::KEEPALIVE_TIMEOUT,
                        "no answer to keepalive pings",
                    ));
                }
                if Box::pin(sink.send(Message::Ping(Default::default()))).await.is_err() {
                    break Ending::Gone;
                }
            }
        }
    };

    room.leave(connection).await;
    Box::pin(finish(
        sink,
        stream,
        ending,
        &context.shutdown,
        &context.config,
    ))
    .await;
}

/// Ends a WebSocket the way `ending` says: a close frame and a short wait for the client's
/// close reply, or nothing when the client is gone.
pub(crate) async fn finish(
    mut sink: SocketSink,
    mut stream: SocketStream,
    ending: Ending,
    shutdown: &CancellationToken,
    config: &ServeConfig,
) {
    let closing = async {
        if let Ending::Close(reason) = ending {
            debug!(code = reason.code, reason = %reason.reason, "closing");
            if sink.send(close_message(reason)).await.is_err() {
                return;
            }
            // Read until the client's close reply: dropping the socket while the client is still
            // sending would make the kernel answer with a reset, which discards the frames and
            // the close frame still in flight to it.
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        }
        let _ = sink.close().await;
    };
    // Bounded as a whole: a client that stopped reading would hold even the final flush, and
    // with it this task and its buffers, for as long as it kept its socket open. While the
    // server stops, every connection waits at once and must fit in the grace.
    let patience = if shutdown.is_cancelled() {
        config.shutdown_grace() / 4
    } else {
        CLOSE_HANDSHAKE_TIMEOUT
    };
    let _ = tokio::time::timeout(patience, closing).await;
}

/// Polls `future` once, leaving it to be awaited further if it is not done.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|context| Poll::Ready(Pin::new(&mut *future).poll(context))).await
}

/// Writes `first` and whatever else is already queued, then flushes once.
async fn write_frames(
    sink: &mut SocketSink,
    first: bytes::Bytes,
    frames: &mut crate::room::frame_queue::FrameReceiver,
) -> Result<(), SocketError> {
    count_frame(&telemetry::FRAMES_SENT, &first);
    feed_binary(sink, first).await?;
    for _ in 1..MAX_FRAMES_PER_FLUSH {
        match frames.try_recv() {
            Ok(frame) => {
                count_frame(&telemetry::FRAMES_SENT, &frame);
                feed_binary(sink, frame).await?
            }
            Err(_) => break,
        }
    }
    sink.flush().await
}

fn count_frame(counters: &telemetry::FrameCounters, frame: &[u8]) {
    counters.count(telemetry::FrameType::of_frame(frame), frame.len());
}

/// A read error that is the client's fault gets a close code; others mean it is gone.
pub(crate) fn ending_for_read_error(error: SocketError) -> Ending {
    match error {
        SocketError::Capacity(capacity) => {
            telemetry::record_refusal("message_too_big");
            Ending::Close(CloseReason::new(
                close_code::TOO_BIG,
                &format!("message too big: {capacity}"),
            ))
        }
        SocketError::Protocol(protocol) => Ending::Close(CloseReason::new(
            close_code::PROTOCOL_ERROR,
            &format!("WebSocket protocol error: {protocol}"),
        )),
        _ => Ending::Gone,
    }
}

pub(crate) fn close_message(reason: CloseReason) -> Message {
    Message::Close(Some(CloseFrame {
        code: reason.code.into(),
        reason: reason.reason.into(),
    }))
}

/// The query string of a WebSocket request: y-websocket sends its `params` here.
#[derive(serde::Deserialize)]
pub(crate) struct UpgradeQuery {
    token: Option<String>,
}

/// Upgrades `GET /ws/{room}` to a y-websocket connection, once the room name, origin and token
/// have passed and the connection is admitted.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    room: Result<Path<String>, PathRejection>,
    query: Result<Query<UpgradeQuery>, QueryRejection>,
    headers: HeaderMap,
    handshake: Result<Handshake, HandshakeError>,
) -> Response {
    let room = match room {
        Ok(Path(room)) => room,
        Err(rejection) => {
            return ApiError::bad_request("invalid_room_name", rejection.body_text())
                .into_response();
        }
    };
    let token = query.ok().and_then(|Query(query)| query.token);
    let document = NamedDocument {
        name: &room,
        token: token.as_deref(),
    };
    let (admission, access) = match admit_socket(&state, peer, &headers, Some(document), handshake)
    {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let context = ConnectionContext {
        room,
        peer,
        access: match access {
            AccessLevel::Read => Access::ReadOnly,
            AccessLevel::Write | AccessLevel::Admin => Access::ReadWrite,
        },
        registry: state.registry.clone(),
        config: state.config.clone(),
        shutdown: state.shutdown.clone(),
    };
    admission.accept(state.config.max_message_bytes, move |socket| {
        serve_connection(socket, context)
    })
}
