//! One admission path for every way in: `/ws`, `/hocuspocus` and `/api`.
//!
//! Whether a request may proceed is decided the same way everywhere: a browser's origin must be
//! allowed, a token must grant enough on the document, a WebSocket needs a server that is not
//! shutting down. Connection limits are counted earlier, from accept (`app::listener`). Every
//! refusal is a JSON [`ApiError`] and is counted, by its code, in `quire_refused_total`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api_error::ApiError;
use crate::app::AppState;
use crate::auth::{AccessLevel, AuthError, Authenticator};
use crate::room_name::validate_room_name;
use crate::websocket::{Admission, Handshake, HandshakeError, Refusal};

/// Refuses a browser upgrade from an origin not in `allowed` (cross-site WebSocket hijacking);
/// requests without an `Origin` header come from non-browser clients and pass.
pub(crate) fn check_origin(allowed: &[String], headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return Ok(());
    };
    if allowed.is_empty()
        || allowed
            .iter()
            .any(|allowed| allowed.as_bytes() == origin.as_bytes())
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
        format!(
            "origin {} may not open WebSockets here",
            String::from_utf8_lossy(origin.as_bytes())
        ),
    ))
}

/// What `token` grants on document `id`, at least `needed`; everything when Quire runs open
/// (no `--auth-secret`). The one place a token becomes access, for `/ws` (at the upgrade),
/// `/hocuspocus` (per document, inside the socket) and `/api` (per request).
pub(crate) fn authorize(
    authenticator: Option<&Authenticator>,
    token: Option<&str>,
    id: &str,
    needed: AccessLevel,
) -> Result<AccessLevel, ApiError> {
    let Some(authenticator) = authenticator else {
        return Ok(AccessLevel::Admin);
    };
    authenticator
        .authorize(token, id, needed)
        .map_err(refusal_for)
}

/// The document a WebSocket serves, named in its URL (`/ws/{room}`), and the token that came
/// with it.
pub(crate) struct NamedDocument<'a> {
    pub(crate) name: &'a str,
    pub(crate) token: Option<&'a str>,
}

/// Admits a WebSocket upgrade, the same for both endpoints: the name of the document in the URL
/// if there is one, the origin, the token's access to that document (at least read), then a
/// valid handshake and a server that is not shutting down. (The connection's place under the
/// connection limits was taken when it was accepted: see `app::listener`.)
/// A refusal is counted in `quire_refused_total` when it is sent as a response.
pub(crate) fn admit_socket(
    state: &AppState,
    headers: &HeaderMap,
    document: Option<NamedDocument<'_>>,
    handshake: Result<Handshake, HandshakeError>,
) -> Result<(Admission, AccessLevel), SocketRefusal> {
    if let Some(document) = &document {
        validate_room_name(document.name)
            .map_err(|error| ApiError::bad_request("invalid_room_name", error.to_string()))?;
    }
    check_origin(&state.config.allowed_origins, headers)?;
    let access = match document {
        // Checked before the upgrade: a refused client never receives a byte of the document.
        Some(NamedDocument { name, token }) => {
            authorize(state.authenticator.as_ref(), token, name, AccessLevel::Read)?
        }
        // Tokens travel inside the socket, one per document (Hocuspocus).
        None => AccessLevel::Read,
    };
    let admission = Admission::admit(state, handshake)?;
    Ok((admission, access))
}

/// Why a WebSocket upgrade was refused; its response is the JSON error.
#[derive(Debug)]
pub(crate) enum SocketRefusal {
    /// The name, origin or token was refused.
    Request(ApiError),
    /// No place under the limits, not a WebSocket handshake, or shutting down.
    Admission(Refusal),
}

impl From<ApiError> for SocketRefusal {
    fn from(refusal: ApiError) -> Self {
        SocketRefusal::Request(refusal)
    }
}

impl From<Refusal> for SocketRefusal {
    fn from(refusal: Refusal) -> Self {
        SocketRefusal::Admission(refusal)
    }
}

impl IntoResponse for SocketRefusal {
    fn into_response(self) -> Response {
        match self {
            SocketRefusal::Request(refusal) => refusal.into_response(),
            SocketRefusal::Admission(refusal) => refusal.into_response(),
        }
    }
}

/// 401 for who-are-you failures, 403 for not-allowed ones.
pub(crate) fn refusal_for(error: AuthError) -> ApiError {
    if error.is_unauthenticated() {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string())
    } else {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", error.to_string())
    }
}
