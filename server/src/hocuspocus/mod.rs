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

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api_error::ApiError;
use crate::app::{
    AppState, WEBSOCKET_READ_BUFFER_BYTES, WEBSOCKET_WRITE_BUFFER_BYTES, check_origin,
};
use session::{SessionContext, serve_session};

/// Upgrades `GET /hocuspocus` to a Hocuspocus socket.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Err(refusal) = check_origin(&state.config.allowed_origins, &headers) {
        return refusal.into_response();
    }
    let permit = match state.connection_limits.admit(peer.ip()) {
        Ok(permit) => permit,
        Err(refusal) => return refusal.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::new(
                rejection.status(),
                "websocket_upgrade_required",
                rejection.body_text(),
            )
            .into_response();
        }
    };
    if state.shutdown.is_cancelled() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .into_response();
    }
    // Taken before the upgrade completes so shutdown also waits for sockets mid-upgrade.
    let task = state.tracker.token();
    let context = SessionContext {
        peer,
        registry: state.registry.clone(),
        config: state.config.clone(),
        shutdown: state.shutdown.clone(),
        authenticator: state.authenticator.clone(),
    };
    let max_message_bytes = state.config.max_message_bytes;
    upgrade
        .read_buffer_size(WEBSOCKET_READ_BUFFER_BYTES)
        .write_buffer_size(WEBSOCKET_WRITE_BUFFER_BYTES)
        .max_write_buffer_size(max_message_bytes.saturating_mul(2))
        .max_message_size(max_message_bytes)
        .max_frame_size(max_message_bytes)
        .on_upgrade(move |socket| async move {
            serve_session(socket, context).await;
            drop(permit);
            drop(task);
        })
}
