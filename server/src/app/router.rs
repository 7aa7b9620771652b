//! Every route of the server, and the small handlers that are not part of an API.
//!
//! `/ws` and `/hocuspocus` upgrade to WebSockets ([`crate::connection`],
//! [`crate::hocuspocus`]), `/api` is the HTTP API ([`crate::http`]), the web editor is served
//! from the binary ([`crate::web_assets`]); health, readiness and metrics are here.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::state::AppState;
use crate::api_error::ApiError;
use crate::telemetry;

/// The server's routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ws/{*room}", get(crate::connection::upgrade))
        .route("/hocuspocus", get(crate::hocuspocus::upgrade))
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
        .merge(crate::http::api_routes(state.config.max_body_bytes))
        .merge(crate::web_assets::web_routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Alive: the process answers.
async fn health() -> &'static str {
    "ok"
}

/// Ready: storage takes writes, the cluster link (if any) is up, and connections are accepted;
/// 503 once shutdown has begun, so a load balancer stops sending traffic first, and while a
/// link is down, so new clients go to a node whose edits reach everyone (the clients it holds
/// are served all along).
async fn ready(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .into_response()
    } else if let Some(outage) = state.storage.health().outage() {
        ApiError::storage_unavailable(outage.describe()).into_response()
    } else if state
        .cluster
        .as_ref()
        .is_some_and(|cluster| !cluster.is_up())
    {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unavailable",
            "the link to the other nodes (Redis) is down: this node's clients are served, \
             other nodes' edits reach them once it is back",
        )
        .into_response()
    } else {
        "ready".into_response()
    }
}

async fn render_metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::render(),
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// A route asked with a method it lacks: refused in JSON like every other refusal, where axum
/// would answer with an empty body.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}
