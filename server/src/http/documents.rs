//! Document routes: list, metadata, snapshot export, state vector, update, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crdt_core::export::{self, ExportFormat};
use serde::{Deserialize, Serialize};
use storage::{DocMeta, DocumentKind};
use yrs::updates::encoder::Encode;

use super::extract::{
    bearer, binary_body, document_id, query, state_vector_parameter, timestamp, token_scope,
};
use crate::admission::authorize;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::auth::AccessLevel;
use crate::room::{EditError, ExportError, ExportRequest, Exported, RoomRegistry};

/// Listing pages hold this many documents unless asked otherwise...
const DEFAULT_PAGE: usize = 100;
/// ...and never more than this.
const MAX_PAGE: usize = 1000;

/// A document as listed.
#[derive(Debug, Serialize)]
pub(crate) struct DocumentSummary {
    id: String,
    bytes: u64,
    updated_at: String,
    clients: usize,
    in_memory: bool,
    damaged: bool,
    /// `text` or `rich`, chosen at creation.
    kind: &'static str,
}

impl DocumentSummary {
    pub(crate) fn new(meta: DocMeta, registry: &RoomRegistry) -> Self {
        DocumentSummary {
            bytes: meta.bytes,
            updated_at: timestamp(meta.updated_at),
            clients: registry.clients(&meta.id),
            in_memory: registry.document_in_memory(&meta.id),
            damaged: meta.damaged,
            kind: meta.kind.as_str(),
            id: meta.id,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<usize>,
    after: Option<String>,
}

/// `GET /api/docs?limit=&after=`: documents in id order, a page at a time.
pub(crate) async fn list_documents(
    State(state): State<AppState>,
    headers: HeaderMap,
    list: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<DocumentSummary>>, ApiError> {
    // With tokens, a listing shows only the documents the token names.
    let scope = token_scope(state.authenticator.as_ref(), &headers)?;
    let Query(list) = query(list)?;
    let limit = list.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let page = state
        .storage
        .list_page(list.after, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        page.into_iter()
            .filter(|meta| scope.as_ref().is_none_or(|claims| claims.covers(&meta.id)))
            .map(|meta| DocumentSummary::new(meta, &state.registry))
            .collect(),
    ))
}

/// `GET /api/docs/{id}`: one document's metadata.
pub(crate) async fn get_document(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<DocumentSummary>, ApiError> {
    let id = document_id(id.map(|Path(id)| id))?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Read,
    )?;
    let meta = existing_document(&state, &id).await?;
    Ok(Json(DocumentSummary::new(meta, &state.registry)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotQuery {
    format: Option<String>,
    since: Option<String>,
    name: Option<String>,
}

impl SnapshotQuery {
    /// A 400 for a format or state vector that is wrong whatever the document, so it is refused
    /// before the document is looked up.
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        parse_format(self.format.as_deref())?;
        if let Some(since) = self.since.as_deref() {
            state_vector_parameter(since)?;
        }
        Ok(())
    }

    /// The export asked of a document of `kind`, or a 400 naming what is wrong.
    pub(crate) fn into_export(self, kind: DocumentKind) -> Result<ExportRequest, ApiError> {
        let request = ExportRequest::Document {
            format: parse_format(self.format.as_deref())?,
            kind,
            since: self
                .since
                .as_deref()
                .map(state_vector_parameter)
                .transpose()?,
            root_name: self.name,
        };
        request.check_kind().map_err(export_refusal)?;
        Ok(request)
    }
}

/// An export as an HTTP response: binary, JSON or plain text, or why it could not be made.
pub(crate) fn export_response(
    exported: Result<Exported, ExportError>,
) -> Result<Response, ApiError> {
    Ok(match exported {
        Ok(Exported::Binary(bytes)) => binary(bytes),
        Ok(Exported::Json(value)) => Json(value).into_response(),
        Ok(Exported::Text(text)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Ok(Exported::Markdown(markdown)) => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            markdown,
        )
            .into_response(),
        // Sanitised already; served so that even a hole in that could run nothing here.
        Ok(Exported::Html(html)) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; img-src http: https:; sandbox",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            html,
        )
            .into_response(),
        Err(error) => return Err(export_refusal(error)),
    })
}

/// Why an export was refused, as the API answers it.
fn export_refusal(error: ExportError) -> ApiError {
    match error {
        error @ ExportError::FormatNotForKind { .. } => {
            ApiError::bad_request("format_not_for_kind", error.to_string())
        }
        ExportError::NoSuchText(detail) => ApiError::bad_request("no_such_text", detail),
        ExportError::NotRichText(detail) => ApiError::bad_request("not_rich_text", detail),
        error @ ExportError::Unavailable(_) => ApiError::unavailable(error),
    }
}

/// `GET /api/docs/{id}/snapshot?format=&since=&name=`: the document, whole or as a diff.
pub(crate) async fn get_snapshot(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    snapshot: Result<Query<SnapshotQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = document_id(id.map(|Path(id)| id))?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Read,
    )?;
    let Query(snapshot) = query(snapshot)?;
    snapshot.check()?;
    let meta = existing_document(&state, &id).await?;
    let export = snapshot.into_export(meta.kind)?;
    export_response(state.registry.export(&id, export).await)
}

/// `GET /api/docs/{id}/state-vector`: the binary Yjs state vector.
pub(crate) async fn get_state_vector(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = document_id(id.map(|Path(id)| id))?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Read,
    )?;
    existing_document(&state, &id).await?;
    export_response(state.registry.export(&id, ExportRequest::StateVector).await)
}

#[derive(Debug, Deserialize)]
pub(crate) struct UpdateQuery {
    format: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct UpdateApplied {
    /// Whether the update told the document anything new.
    changed: bool,
}

/// `POST /api/docs/{id}/update`: applies a Yjs update (v1, or v2 with `?format=update-v2`);
/// durable before the answer, broadcast to live clients.
pub(crate) async fn post_update(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    update_query: Result<Query<UpdateQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UpdateApplied>, ApiError> {
    let id = document_id(id.map(|Path(id)| id))?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Write,
    )?;
    let Query(update_query) = query(update_query)?;
    require_binary_content(&headers)?;
    let body = binary_body(body)?;
    let update_v1 = match update_query.format.as_deref() {
        None | Some("update") => body.to_vec(),
        Some("update-v2") => crdt_core::untrusted::decode_update_v2(&body)
            .map_err(|error| {
                ApiError::bad_request("malformed_update", format!("not a Yjs v2 update: {error}"))
            })?
            .encode_v1(),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_format",
                format!("unknown update format {other:?}: expected \"update\" or \"update-v2\""),
            ));
        }
    };
    let changed =
        state
            .registry
            .apply_update(&id, update_v1)
            .await
            .map_err(|error| match error {
                EditError::Rejected(error) => {
                    ApiError::bad_request("malformed_update", format!("not a Yjs update: {error}"))
                }
                EditError::Storage(_) => ApiError::internal(error),
                EditError::StorageUnavailable(reason) => ApiError::storage_unavailable(reason),
            })?;
    Ok(Json(UpdateApplied { changed }))
}

/// `DELETE /api/docs/{id}`: closes live clients with 4410 and removes the document.
pub(crate) async fn delete_document(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = document_id(id.map(|Path(id)| id))?;
    authorize(
        state.authenticator.as_ref(),
        bearer(&headers),
        &id,
        AccessLevel::Admin,
    )?;
    existing_document(&state, &id).await?;
    match state.registry.delete(&id).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::document_not_found(&id)),
        Err(error) => Err(ApiError::internal(error)),
    }
}

/// The document's stored metadata, or 404.
pub(crate) async fn existing_document(state: &AppState, id: &str) -> Result<DocMeta, ApiError> {
    state
        .storage
        .metadata(id.to_owned())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::document_not_found(id))
}

/// The export format asked for (`update` when none is).
fn parse_format(format: Option<&str>) -> Result<ExportFormat, ApiError> {
    format
        .unwrap_or("update")
        .parse()
        .map_err(|error: export::ExportError| {
            ApiError::bad_request("invalid_format", error.to_string())
        })
}

/// Renders `doc` in `format` as an HTTP response.
fn binary(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

/// Updates are binary: refuse a body declared as something else (415) rather than guess.
fn require_binary_content(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(header::CONTENT_TYPE) {
        None => Ok(()),
        Some(value) if value.as_bytes().starts_with(b"application/octet-stream") => Ok(()),
        Some(value) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "updates are sent as application/octet-stream, not {}",
                String::from_utf8_lossy(value.as_bytes())
            ),
        )),
    }
}
