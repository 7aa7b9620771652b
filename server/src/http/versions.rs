//! Version routes: named snapshots of a document, listed, exported and restored.
//!
//! A version is the document's whole state at the moment it was taken, stored beside the
//! document. Restoring does not rewind history: it applies new edits that make the content equal
//! the version's, so live clients merge it like any other change and the history stays.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use crdt_core::ProtocolError;
use serde::{Deserialize, Serialize};
use storage::{DocumentKind, VersionId, VersionMeta};

use super::documents::{SnapshotQuery, existing_document, export_response};
use super::extract::{bearer, document_id, json_body, query, timestamp};
use crate::admission::authorize;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::auth::AccessLevel;
use crate::room::{EditError, VersionError};
use axum::http::HeaderMap;

/// A version as listed.
#[derive(Debug, Serialize)]
pub(crate) struct VersionSummary {
    version_id: String,
    created_at: String,
    label: String,
    bytes: u64,
}

impl From<VersionMeta> for VersionSummary {
    fn from(meta: VersionMeta) -> Self {
        VersionSummary {
            version_id: meta.id.to_string(),
            created_at: timestamp(meta.created_at),
            label: meta.label,
            bytes: meta.bytes,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewVersion {
    #[serde(default)]
    label: String,
}

/// `POST /api/docs/{id}/versions` `{"label"}`: keeps the document's current state.
pub(crate) async fn create_version(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<NewVersion>, JsonRejection>,
) -> Result<(StatusCode, Json<VersionSummary>), ApiError> {
    let id = document_id(id.map(|Path(id)| id))?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Write,
    )?;
    let Json(new_version) = json_body(body)?;
    existing_document(&state, &id).await?;
    let created = state
        .registry
        .create_version(&id, new_version.label)
        .await
        .map_err(|error| match error {
            VersionError::Store(error @ storage::StoreError::InvalidVersionLabel(_)) => {
                ApiError::bad_request("invalid_label", error.to_string())
            }
            VersionError::Unavailable(error) => ApiError::unavailable(error),
            other => ApiError::internal(other),
        })?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// `GET /api/docs/{id}/versions`: every version, oldest first.
pub(crate) async fn list_versions(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<VersionSummary>>, ApiError> {
    let id = document_id(id.map(|Path(id)| id))?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Read,
    )?;
    existing_document(&state, &id).await?;
    let versions = state
        .storage
        .list_versions(id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(versions.into_iter().map(Into::into).collect()))
}

/// `GET /api/docs/{id}/versions/{version}/snapshot?format=`: the version's content.
pub(crate) async fn get_version_snapshot(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    snapshot: Result<Query<SnapshotQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (id, version) = version_path(path)?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Read,
    )?;
    let Query(snapshot) = query(snapshot)?;
    snapshot.check()?;
    let (kind, content) = load_version(&state, &id, version).await?;
    let export = snapshot.into_export(kind)?;
    let mut room = crdt_core::Room::new();
    room.handle_stored_update(&content)
        .map_err(ApiError::internal)?;
    export_response(export.render(room.doc()))
}

#[derive(Debug, Serialize)]
pub(crate) struct Restored {
    version_id: String,
    /// Whether the content differed from the version's.
    changed: bool,
}

/// `POST /api/docs/{id}/versions/{version}/restore`: makes the content equal the version's with
/// new edits, durable and broadcast before the answer.
pub(crate) async fn restore_version(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Restored>, ApiError> {
    let (id, version) = version_path(path)?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Write,
    )?;
    let (_, content) = load_version(&state, &id, version).await?;
    let changed = state
        .registry
        .restore(&id, content)
        .await
        .map_err(|error| match error {
            // The version or the document nests shared types deeper than a restore may walk.
            EditError::Rejected(error @ ProtocolError::TooDeep { .. }) => {
                ApiError::bad_request("too_deeply_nested", format!("cannot restore: {error}"))
            }
            EditError::Rejected(error) => ApiError::internal(error),
            EditError::Storage(_) => ApiError::internal(error),
            EditError::StorageUnavailable(reason) => ApiError::storage_unavailable(reason),
        })?;
    Ok(Json(Restored {
        version_id: version.to_string(),
        changed,
    }))
}

fn version_path(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, VersionId), ApiError> {
    let (id, version) = match path {
        Ok(Path(parts)) => (Ok(parts.0), parts.1),
        Err(rejection) => {
            return Err(ApiError::bad_request(
                "invalid_document_id",
                rejection.body_text(),
            ));
        }
    };
    let id = document_id(id)?;
    let version = version.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "version_not_found",
            format!("no version {version:?}"),
        )
    })?;
    Ok((id, version))
}

/// The version's content, and the kind of its document (which decides how it exports).
async fn load_version(
    state: &AppState,
    id: &str,
    version: VersionId,
) -> Result<(DocumentKind, Vec<u8>), ApiError> {
    let kind = existing_document(state, id).await?.kind;
    let loaded = state
        .storage
        .load_version(id.to_owned(), version)
        .await
        .map_err(ApiError::internal)?;
    let (_, content) = loaded.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "version_not_found",
            format!("document {id:?} has no version {version}"),
        )
    })?;
    Ok((kind, content))
}
