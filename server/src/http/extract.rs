//! Request parts every API handler needs, with refusals as JSON.
//!
//! axum's own extractors answer bad input with plain-text bodies; wrapping them here keeps the
//! API's promise that every error is `{"error", "code"}`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use yrs::StateVector;

use crate::api_error::ApiError;
use crate::room_name::validate_room_name;

/// A document id from the path: checked like a room name (ids and room names are one thing).
pub(crate) fn document_id(path: Result<String, PathRejection>) -> Result<String, ApiError> {
    let id = path
        .map_err(|rejection| ApiError::bad_request("invalid_document_id", rejection.body_text()))?;
    validate_room_name(&id)
        .map_err(|error| ApiError::bad_request("invalid_document_id", error.to_string()))?;
    Ok(id)
}

/// Query parameters, or a 400 naming what is wrong with them.
pub(crate) fn query<T>(query: Result<T, QueryRejection>) -> Result<T, ApiError> {
    query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))
}

/// A JSON body, or the fitting status (400, 413, 415) naming what is wrong with it.
pub(crate) fn json_body<T>(body: Result<T, JsonRejection>) -> Result<T, ApiError> {
    body.map_err(|rejection| {
        let (status, code) = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            // axum says 422 for well-formed JSON of the wrong shape; to a client it is as bad a
            // body as broken JSON, and the API's statuses stay few.
            _ => (StatusCode::BAD_REQUEST, "invalid_body"),
        };
        ApiError::new(status, code, rejection.body_text())
    })
}

/// A binary body, or 413 when it passes the body limit.
pub(crate) fn binary_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        };
        ApiError::new(status, code, rejection.body_text())
    })
}

/// A state vector given as base64url (padded or not), as in `?since=`.
pub(crate) fn state_vector_parameter(encoded: &str) -> Result<StateVector, ApiError> {
    let invalid = |detail: String| {
        ApiError::bad_request(
            "invalid_state_vector",
            format!("`since` must be a base64url-encoded Yjs state vector: {detail}"),
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(encoded))
        .map_err(|error| invalid(error.to_string()))?;
    // Walked before yrs decodes it: a few bytes can claim billions of entries.
    crdt_core::untrusted::decode_state_vector(&bytes).map_err(|error| invalid(error.to_string()))
}

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// What the request's token covers: `None` when Quire runs open, else its verified claims (a
/// missing or bad token is refused). For routes that span documents (listings, the change feed),
/// which then show only the documents the claims cover.
pub(crate) fn token_scope(
    authenticator: Option<&crate::auth::Authenticator>,
    headers: &axum::http::HeaderMap,
) -> Result<Option<crate::auth::Claims>, ApiError> {
    authenticator
        .map(|authenticator| authenticator.verify(bearer(headers)))
        .transpose()
        .map_err(crate::admission::refusal_for)
}

/// RFC 3339 with milliseconds, UTC.
pub(crate) fn timestamp(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}
