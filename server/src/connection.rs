//! The `/ws` endpoint: one y-websocket connection, joined to one room.
//!
//! The connection joins its room, then runs the shared [`crate::socket_loop`] with
//! [`YWebsocket`]: every binary frame goes to the room as it came (the room decodes and checks
//! it), and the room's frames and its close come back through the membership. An error here
//! ends this connection only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span};
use websocket_deflate::CompressedMarks;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use crdt_core::{Access, ConnectionId};

use crate::admission::{NamedDocument, admit_socket};
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::auth::AccessLevel;
use crate::close_code;
use crate::config::ServeConfig;
use crate::room::frame_queue::FrameReceiver;
use crate::room::{CloseReason, JoinError, Membership, RoomHandle, RoomRegistry};
use crate::socket_loop::{self, Ending, Outgoing, Protocol, Reply, close_message};
use crate::telemetry;
use crate::websocket::{Handshake, HandshakeError, Socket, SocketSink, SocketStream};

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
    let (sink, stream) = socket.websocket.split();
    serve(sink, stream, socket.deflate, context).instrument(span)
}

async fn serve(
    mut sink: SocketSink,
    mut stream: SocketStream,
    deflate: Option<CompressedMarks>,
    context: ConnectionContext,
) {
    // Boxed, like the loop's rarer awaits: a future entered once would otherwise keep its size
    // in this one for the connection's whole life.
    let membership = match Box::pin(context.registry.join(&context.room, context.access)).await {
        Ok(membership) => membership,
        Err(error) => {
            let _open = telemetry::OpenConnection::new(YWebsocket::NAME);
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
        frames,
        close,
    } = membership;
    let mut protocol = YWebsocket {
        room,
        connection,
        frames,
        close,
    };
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

/// y-websocket: one room per socket, y-protocols messages as they are.
struct YWebsocket {
    room: RoomHandle,
    connection: ConnectionId,
    frames: FrameReceiver,
    close: oneshot::Receiver<CloseReason>,
}

impl Protocol for YWebsocket {
    /// Nothing: every frame comes ready from the room.
    type Work = std::convert::Infallible;

    const NAME: &'static str = "y-websocket";
    const TEXT_REFUSAL: &'static str = "text frames are not part of the Yjs sync protocol";

    fn poll_outgoing(&mut self, context: &mut Context<'_>) -> Poll<Outgoing<Self::Work>> {
        // The room's close first: frames still queued behind it would reach a client the room
        // has already let go.
        if let Poll::Ready(reason) = self.close.poll_unpin(context) {
            return Poll::Ready(Outgoing::End(Ending::Close(
                reason.unwrap_or_else(|_| room_stopped()),
            )));
        }
        self.frames.poll_recv(context).map(|frame| match frame {
            Some(frame) => Outgoing::Send(frame),
            None => Outgoing::End(Ending::Close(room_stopped())),
        })
    }

    async fn resume(&mut self, work: Self::Work) -> Reply {
        match work {}
    }

    async fn handle_frame(&mut self, frame: Bytes) -> Reply {
        if self.room.send_frame(self.connection, frame).await {
            Reply::Nothing
        } else {
            Reply::End(Ending::Close(room_stopped()))
        }
    }

    fn count(counters: &telemetry::FrameCounters, frame: &[u8]) {
        counters.count(telemetry::FrameType::of_frame(frame), frame.len());
    }

    async fn leave(&mut self) {
        self.room.leave(self.connection).await;
    }
}

fn room_stopped() -> CloseReason {
    CloseReason::new(close_code::INTERNAL_ERROR, "room stopped")
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
    let (admission, access) = match admit_socket(&state, &headers, Some(document), handshake) {
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
    admission.accept(move |socket| serve_connection(socket, context))
}

#[cfg(test)]
mod tests {
    /// The size of the future `make` returns, without making one.
    fn future_size<A, F>(_: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// An idle connection's memory is mostly its task's future (W7, 19,000 idle clients): the
    /// loop keeps what it awaits only once in a while boxed, and this keeps it that way. Past
    /// 1 KiB the allocation moves up a size class, about 300 bytes more per connection in W7.
    #[test]
    fn a_connection_future_stays_within_a_kibibyte() {
        let size = future_size(
            |(sink, stream, deflate, context): (
                super::SocketSink,
                super::SocketStream,
                Option<super::CompressedMarks>,
                super::ConnectionContext,
            )| super::serve(sink, stream, deflate, context),
        );
        assert!(size <= 1024, "a /ws connection's future is {size} bytes");
    }
}
