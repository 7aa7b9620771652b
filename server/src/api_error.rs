//! HTTP errors as JSON: `{"error": "<human message>", "code": "<stable_snake_case>"}`.
//!
//! Every refusal over HTTP, including a refused WebSocket upgrade, has this shape so clients can
//! branch on `code` and show `error`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A refusal with its status.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
}

impl ApiError {
    /// A refusal with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404 for a document nothing is stored under.
    pub fn document_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "document_not_found",
            format!("no document {id:?}"),
        )
    }

    /// 500: something failed on our side; the detail is logged, not shown.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server could not complete the request; see its log",
        )
    }

    /// 503: the document's room could not be reached (it failed to load, or the server is
    /// stopping).
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "document unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "document_unavailable",
            error.to_string(),
        )
    }

    /// 503: storage takes no writes now (low on space, or failed); `reason` says which, and
    /// when edits resume.
    pub fn storage_unavailable(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            reason,
        )
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl ApiError {
    /// The refusal as a whole HTTP/1.1 response that closes its connection, for answering a
    /// connection before any HTTP framework has seen it (see `app::accept_refusal`).
    pub(crate) fn to_raw_response(&self) -> Vec<u8> {
        let body = serde_json::to_vec(&ErrorBody {
            error: &self.message,
            code: self.code,
        })
        .unwrap_or_default();
        let mut response = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Every refusal of a request is counted by its code (503 included: shutting down, no
        // room for another connection); server failures are not refusals.
        if self.status.is_client_error() || self.status == StatusCode::SERVICE_UNAVAILABLE {
            crate::telemetry::record_refusal(self.code);
        }
        let body = ErrorBody {
            error: &self.message,
            code: self.code,
        };
        (self.status, Json(body)).into_response()
    }
}
