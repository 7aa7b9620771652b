//! The HTTP API under `/api`: documents for operators and other services.
//!
//! Handlers here translate HTTP to room commands and storage calls and back; they hold no
//! document logic of their own. Reads and edits of a document go through its room task, so an
//! update POSTed here is durable before the 2xx and reaches live clients like any other edit.
//! Every refusal is a JSON [`ApiError`](crate::api_error::ApiError).

mod changes;
mod creation;
mod documents;
mod extract;
mod openapi;
mod versions;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::app::AppState;

/// The `/api` routes.
pub(crate) fn api_routes(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/api/docs",
            get(documents::list_documents).post(creation::create_document),
        )
        .route(
            "/api/docs/{id}",
            get(documents::get_document).delete(documents::delete_document),
        )
        .route("/api/docs/{id}/snapshot", get(documents::get_snapshot))
        .route(
            "/api/docs/{id}/state-vector",
            get(documents::get_state_vector),
        )
        .route("/api/docs/{id}/update", post(documents::post_update))
        .route(
            "/api/docs/{id}/versions",
            get(versions::list_versions).post(versions::create_version),
        )
        .route(
            "/api/docs/{id}/versions/{version}/snapshot",
            get(versions::get_version_snapshot),
        )
        .route(
            "/api/docs/{id}/versions/{version}/restore",
            post(versions::restore_version),
        )
        .route("/api/changes", get(changes::stream_changes))
        .route("/api/openapi.json", get(openapi::serve_openapi))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}
