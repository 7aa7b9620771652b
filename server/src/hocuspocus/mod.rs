//! The `/hocuspocus` endpoint: Hocuspocus providers (Tiptap's collaboration) on Quire's rooms.
//!
//! A Hocuspocus provider multiplexes many documents on one WebSocket and prefixes every message
//! with its document's name. The messages for a document's content and presence are y-protocols
//! messages, so each document of a socket is simply a membership in that document's room, next
//! to `/ws` clients of the same document: they see each other's edits and presence. What
//! Hocuspocus adds is handled here: per-document authentication with a token, SyncStatus
//! acknowledgements once an update is durable, stateless messages relayed between the
//! document's Hocuspocus clients, and closing one document without closing the socket.
//!
//! - [`codec`]: the wire format (decoding a provider's frames, encoding the answers).
//! - [`documents`]: the documents of one socket, multiplexed over room memberships.
//! - [`forward`]: what a document's messages become in its room; acknowledgements and refusals.
//! - [`session`]: the task serving one socket (auth, keepalive, limits, close codes).
//!
//! The upgrade applies the same checks as `/ws` (origin, connection limits, shutdown), except the
//! token: it travels inside the socket, per document, and is checked before that document's room
//! is joined.

pub mod codec;
pub mod documents;
pub mod forward;
pub mod session;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::admission::admit_socket;
use crate::app::AppState;
use crate::websocket::{Handshake, HandshakeError};
use session::{SessionContext, serve_session};

/// Upgrades `GET /hocuspocus` to a Hocuspocus socket.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    handshake: Result<Handshake, HandshakeError>,
) -> Response {
    let (admission, _) = match admit_socket(&state, &headers, None, handshake) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let context = SessionContext {
        peer,
        registry: state.registry.clone(),
        config: state.config.clone(),
        shutdown: state.shutdown.clone(),
        authenticator: state.authenticator.clone(),
    };
    admission.accept(move |socket| serve_session(socket, context))
}
