//! Validating a WebSocket upgrade request (RFC 6455 section 4.2.1).
//!
//! [`Handshake`] is an extractor: handlers take `Result<Handshake, HandshakeError>` so they can
//! run their own checks (room name, origin, token) first and answer in a deliberate order. A bad
//! request gets the same JSON error body as every other refusal (see [`crate::api_error`]), with
//! a code saying which part of the handshake was wrong.

use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hyper::upgrade::OnUpgrade;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use websocket_deflate::{Agreement, negotiate};

use crate::api_error::ApiError;

/// The only WebSocket version there is (RFC 6455); also what a refusal advertises.
const WEBSOCKET_VERSION: &str = "13";

/// A valid upgrade request: what answering it and taking over its connection need.
pub struct Handshake {
    /// `Sec-WebSocket-Accept` for the response.
    accept: HeaderValue,
    /// The client's acceptable offer of permessage-deflate, if it made one.
    deflate: Option<Agreement>,
    /// Resolves to the raw connection once the 101 response is sent.
    on_upgrade: OnUpgrade,
}

/// Why a request cannot be upgraded to a WebSocket.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The request was not a GET.
    #[error("a WebSocket upgrade must be a GET request")]
    MethodNotGet,
    /// `Connection` does not list `upgrade`, or `Upgrade` is not `websocket`: a plain HTTP
    /// request (a browser tab opened on the URL, a health check).
    #[error("this is a WebSocket endpoint: send Connection: upgrade and Upgrade: websocket")]
    NotAnUpgrade,
    /// `Sec-WebSocket-Version` is missing or not 13.
    #[error("Sec-WebSocket-Version must be 13")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing or is not the base64 encoding of 16 bytes.
    #[error("Sec-WebSocket-Key must be the base64 encoding of 16 bytes")]
    InvalidKey,
    /// The connection cannot be taken over (an HTTP/2 request, or a request not served by hyper).
    #[error("this connection cannot be upgraded to a WebSocket")]
    NotUpgradable,
}

impl HandshakeError {
    fn status(&self) -> StatusCode {
        match self {
            HandshakeError::MethodNotGet => StatusCode::METHOD_NOT_ALLOWED,
            HandshakeError::NotAnUpgrade | HandshakeError::InvalidKey => StatusCode::BAD_REQUEST,
            HandshakeError::UnsupportedVersion | HandshakeError::NotUpgradable => {
                StatusCode::UPGRADE_REQUIRED
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            HandshakeError::MethodNotGet
            | HandshakeError::NotAnUpgrade
            | HandshakeError::NotUpgradable => "websocket_upgrade_required",
            HandshakeError::UnsupportedVersion => "unsupported_websocket_version",
            HandshakeError::InvalidKey => "invalid_websocket_key",
        }
    }
}

impl IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        let version_refused = matches!(self, HandshakeError::UnsupportedVersion);
        let mut response =
            ApiError::new(self.status(), self.code(), self.to_string()).into_response();
        if version_refused {
            // RFC 6455 section 4.4: tell the client which version to retry with.
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static(WEBSOCKET_VERSION),
            );
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Handshake {
    type Rejection = HandshakeError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Handshake::validate(parts)
    }
}

impl Handshake {
    /// Checks the request's method and headers, then takes its connection's upgrade handle.
    fn validate(parts: &mut Parts) -> Result<Self, HandshakeError> {
        if parts.method != Method::GET {
            return Err(HandshakeError::MethodNotGet);
        }
        let headers = &parts.headers;
        if !lists_token(headers, header::CONNECTION, "upgrade")
            || !lists_token(headers, header::UPGRADE, "websocket")
        {
            return Err(HandshakeError::NotAnUpgrade);
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|version| version.as_bytes() != WEBSOCKET_VERSION.as_bytes())
        {
            return Err(HandshakeError::UnsupportedVersion);
        }
        let key = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|key| is_valid_key(key.as_bytes()))
            .ok_or(HandshakeError::InvalidKey)?;
        let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
            .expect("base64 is a valid header value");
        // A header that is not text cannot hold an acceptable offer; it is declined like one.
        let deflate = negotiate(
            headers
                .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
                .iter()
                .filter_map(|value| value.to_str().ok()),
        );
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(HandshakeError::NotUpgradable)?;
        Ok(Handshake {
            accept,
            deflate,
            on_upgrade,
        })
    }

    /// The client's acceptable offer of permessage-deflate, if it made one.
    pub(crate) fn deflate(&self) -> Option<Agreement> {
        self.deflate
    }

    /// The `101 Switching Protocols` response that completes the handshake, agreeing to
    /// `deflate` if given. No subprotocol is chosen: y-websocket and Hocuspocus providers ask
    /// for none.
    pub(crate) fn response(&self, deflate: Option<Agreement>) -> Response {
        let mut response = (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (header::SEC_WEBSOCKET_ACCEPT, self.accept.clone()),
            ],
        )
            .into_response();
        if let Some(agreement) = deflate {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_static(agreement.response_value()),
            );
        }
        response
    }

    /// The handle that resolves to the raw connection once the response is sent.
    pub(crate) fn into_on_upgrade(self) -> OnUpgrade {
        self.on_upgrade
    }
}

/// Whether header `name` holds `token` in its comma-separated list, ignoring ASCII case
/// (`Connection: keep-alive, Upgrade` as Firefox sends it).
fn lists_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&byte| byte == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// A key is the base64 encoding of 16 random bytes (RFC 6455 section 4.1).
fn is_valid_key(key: &[u8]) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|decoded| decoded.len() == 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_header_is_a_case_insensitive_list() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(lists_token(&headers, header::CONNECTION, "upgrade"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrades"));
        assert!(!lists_token(&headers, header::CONNECTION, "upgrade"));
    }

    #[test]
    fn keys_must_decode_to_sixteen_bytes() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZQ=="));
        assert!(!is_valid_key(b"not base64 at all!"));
        assert!(!is_valid_key(b""));
    }
}
