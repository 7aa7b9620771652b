//! `POST /api/docs`: creating a document of a chosen kind.
//!
//! Most documents come into being by their first edit, and those are `text`. A rich-text
//! document has to be declared before anyone types, because its kind decides which shared type
//! the editors bind to and which export formats apply; so creation is explicit, durable before
//! the 201, and refuses an id already taken rather than changing an existing document's kind.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use storage::DocumentKind;

use super::documents::DocumentSummary;
use super::extract::{bearer, json_body};
use crate::admission::authorize;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::auth::AccessLevel;
use crate::room::StorageError;
use crate::room_name::validate_room_name;

/// The body of `POST /api/docs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDocument {
    /// The id to create; a random UUID when absent.
    id: Option<String>,
    /// `text` (the default) or `rich`.
    kind: Option<String>,
}

/// `POST /api/docs`: creates an empty document of the kind asked; 201 with its summary, 409 if
/// the id is taken.
pub(crate) async fn create_document(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewDocument>, JsonRejection>,
) -> Result<(StatusCode, Json<DocumentSummary>), ApiError> {
    let Json(new) = json_body(body)?;
    let kind = match new.kind.as_deref() {
        None => DocumentKind::Text,
        Some(name) => name
            .parse()
            .map_err(|error: storage::UnknownDocumentKind| {
                ApiError::bad_request("invalid_kind", error.to_string())
            })?,
    };
    let id = match new.id {
        Some(id) => {
            validate_room_name(&id)
                .map_err(|error| ApiError::bad_request("invalid_document_id", error.to_string()))?;
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Write,
    )?;
    // A room open under the id is a document in use, stored or not yet: its clients chose a
    // kind by what they edit, and their queued edits would land in the new one.
    if state.registry.clients(&id) > 0 || state.registry.document_in_memory(&id) {
        return Err(document_exists(&id));
    }
    let created = state
        .storage
        .create(id.clone(), kind)
        .await
        .map_err(|error| match error {
            StorageError::Unavailable(reason) => ApiError::storage_unavailable(reason),
            error => ApiError::internal(error),
        })?;
    if !created {
        return Err(document_exists(&id));
    }
    let meta = super::documents::existing_document(&state, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(DocumentSummary::new(meta, &state.registry)),
    ))
}

/// 409: the id is taken, by a stored document or a room open under it.
fn document_exists(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "document_exists",
        format!("document {id:?} already exists"),
    )
}
