//! Admitting an upgrade request and switching its connection to a WebSocket task.
//!
//! Both endpoints admit a connection the same way once their own checks have passed: require a
//! valid handshake, refuse while shutting down. (The connection's place under the connection
//! limits was taken when it was accepted, and lives in its stream: see `app::listener`.) An
//! [`Admission`] holds what those steps produced; [`Admission::accept`] answers `101` and spawns
//! the task that serves the socket, tracked so shutdown waits for it (also while it is still
//! mid-upgrade).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::Either;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::task::TaskTracker;
use tracing::debug;
use websocket_deflate::{CompressedMarks, FrameScanner, MarkingStream};

use crate::api_error::ApiError;
use crate::app::AppState;
use crate::websocket::{Handshake, HandshakeError, Socket};

/// WebSocket read buffer per connection, and the most one read asks the socket for. tungstenite
/// zero-fills the buffer's whole capacity before its first read, so every connection, idle or
/// not, keeps all of it resident: this was 8 KiB of the 13.6 KiB an idle connection cost. Yjs
/// frames are mostly tens of bytes; a larger frame still arrives whole (the buffer grows to the
/// frame, up to the message size limit), it just takes one read per KiB. Measured at 1 KiB
/// against 8 KiB, W1 (a writer's pipelined updates) and W2 (1,000 readers) showed no change
/// beyond the run-to-run noise. tungstenite's default is 128 KiB.
pub const READ_BUFFER_BYTES: usize = 1024;
/// Bytes gathered before a write reaches the socket; every batch is flushed anyway, so this only
/// bounds how much one batch holds in memory before writing. tungstenite keeps the buffer's
/// capacity for the connection's life, and with large messages sent in fragments (see
/// [`crate::websocket::send`]) it peaks near this plus one fragment. Measured in W4 (5,000
/// joiners of a 333 KB document) against 64 KiB: server RSS after the storm 195 MiB instead of
/// 510 MiB and server CPU 0.7-1.0 s instead of 0.8-2.0 s, with the time until all were synced
/// within the noise; W1 and W2 (1,000 readers, saturating and at 20,000 deliveries/s) showed no
/// change beyond the run-to-run noise either: a batch of small Yjs frames rarely reaches 16 KiB.
pub const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Why a connection was not admitted; the response is its JSON error.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The request is not a valid WebSocket handshake.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The server is shutting down (503).
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Handshake(error) => error.into_response(),
            Refusal::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            )
            .into_response(),
        }
    }
}

/// A request that passed every admission step, ready to be answered with `101`.
pub struct Admission {
    handshake: Handshake,
    tracker: TaskTracker,
    /// Whether the server allows permessage-deflate (`--compression`).
    compression: bool,
    max_message_bytes: usize,
}

impl Admission {
    /// The admission steps both endpoints share, after their own checks: a valid handshake and
    /// a server that is not shutting down.
    pub(crate) fn admit(
        state: &AppState,
        handshake: Result<Handshake, HandshakeError>,
    ) -> Result<Admission, Refusal> {
        let handshake = handshake?;
        if state.shutdown.is_cancelled() {
            return Err(Refusal::ShuttingDown);
        }
        Ok(Admission {
            handshake,
            tracker: state.tracker.clone(),
            compression: state.config.compresses(),
            max_message_bytes: state.config.max_message_bytes,
        })
    }

    /// Answers `101 Switching Protocols` (agreeing to compression if the client offered it and
    /// the server allows it) and spawns `serve` on the upgraded socket, configured for messages
    /// of at most `--max-message-bytes`.
    pub(crate) fn accept<Serve, Served>(self, serve: Serve) -> Response
    where
        Serve: FnOnce(Socket) -> Served + Send + 'static,
        Served: Future<Output = ()> + Send + 'static,
    {
        let Admission {
            handshake,
            tracker,
            compression,
            max_message_bytes,
        } = self;
        let deflate = handshake.deflate().filter(|_| compression);
        let response = handshake.response(deflate);
        let upgraded = handshake.into_on_upgrade();
        let config = socket_config(max_message_bytes);
        let marks = deflate.map(|_| CompressedMarks::default());
        // Combinators rather than one `async` block: the block would keep the upgrade's state
        // next to the connection's for as long as the connection lives; `then` holds one or
        // the other.
        let connection = upgraded.then(move |upgraded| match upgraded {
            Ok(upgraded) => {
                let scanner = marks.clone().map(FrameScanner::for_frames);
                let stream = MarkingStream::new(TokioIo::new(upgraded), scanner);
                Either::Left(
                    WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).then(
                        move |websocket| {
                            serve(Socket {
                                websocket,
                                deflate: marks,
                            })
                        },
                    ),
                )
            }
            Err(error) => {
                debug!(%error, "the upgrade did not complete");
                Either::Right(std::future::ready(()))
            }
        });
        tracker.spawn(connection);
        response
    }
}

/// Buffer sizes and limits of every upgraded socket.
fn socket_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        // Room for a full write buffer and one more frame (a fragment, or a message no larger
        // than a client may send): tungstenite refuses a write past this.
        .max_write_buffer_size(max_message_bytes.saturating_mul(2))
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}
