//! Building the app over an in-memory store, sending it requests, reading its answers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use server::{AppState, ServeConfig, router};
use storage::{DocStore, MemoryStore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::yjs::Editor;

/// Bytes of a document id sent as they are in a path segment; everything else, `/` included,
/// is percent-encoded.
const SEGMENT_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The server's router over its own store, with the token that starts its shutdown.
pub struct TestApp {
    router: Router,
    shutdown: CancellationToken,
}

impl TestApp {
    /// An app with the default settings over an empty [`MemoryStore`].
    pub fn new() -> Self {
        Self::configured(|_| {})
    }

    /// An app over an empty [`MemoryStore`] with the settings `configure` adjusts.
    pub fn configured(configure: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::over_store(Arc::new(MemoryStore::default()), configure)
    }

    /// An app over `store` with the settings `configure` adjusts.
    pub fn over_store(store: Arc<dyn DocStore>, configure: impl FnOnce(&mut ServeConfig)) -> Self {
        let unused_address = SocketAddr::from(([127, 0, 0, 1], 0));
        let unused_data_dir = PathBuf::from("the-store-is-in-memory");
        let mut config = ServeConfig::new(unused_address, unused_data_dir);
        configure(&mut config);
        let shutdown = CancellationToken::new();
        let state = AppState::new(config, store, shutdown.clone());
        TestApp {
            router: router(state),
            shutdown,
        }
    }

    /// Begins the server's shutdown, as a signal would.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Sends `request` to the router and returns the answer unread (a stream, read as it comes).
    pub async fn open(&self, request: Request<Body>) -> axum::response::Response {
        self.router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {})
    }

    /// Sends `request` to the router and reads the whole answer.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .expect("an in-memory response body is readable")
            .to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(get(path)).await
    }

    /// `POST`s `update` (a Yjs v1 update) to document `id`.
    pub async fn post_update(&self, id: &str, update: Vec<u8>) -> Reply {
        self.send(post_binary(&document_path(id, "/update"), update))
            .await
    }

    /// `POST /api/docs` of document `id` of `kind` (`"text"` or `"rich"`).
    pub async fn create_of_kind(&self, id: &str, kind: &str) -> Reply {
        self.send(post_json(
            "/api/docs",
            &serde_json::json!({ "id": id, "kind": kind }),
        ))
        .await
    }

    /// Document `id` holding `text` in its root text, written through the API; the editor that
    /// wrote it, to edit on.
    pub async fn create_document(&self, id: &str, text: &str) -> Editor {
        let editor = Editor::new();
        let reply = self.post_update(id, editor.insert(0, text)).await;
        assert_eq!(reply.status, StatusCode::OK, "creating {id:?}: {reply:?}");
        editor
    }

    /// Document `id`'s snapshot as plain text (its only root text).
    pub async fn text_of(&self, id: &str) -> String {
        let reply = self.get(&document_path(id, "/snapshot?format=text")).await;
        assert_eq!(reply.status, StatusCode::OK, "text of {id:?}: {reply:?}");
        reply.text().to_owned()
    }
}

/// The path of document `id` (one percent-encoded segment) under `/api/docs`, followed by
/// `rest` (`""`, `"/snapshot"`, `"/versions/1/restore"`...).
pub fn document_path(id: &str, rest: &str) -> String {
    format!("/api/docs/{}{rest}", utf8_percent_encode(id, SEGMENT_KEEPS))
}

/// `GET path`, no body.
pub fn get(path: &str) -> Request<Body> {
    request(Method::GET, path, None, Body::empty())
}

/// `DELETE path`, no body.
pub fn delete(path: &str) -> Request<Body> {
    request(Method::DELETE, path, None, Body::empty())
}

/// `POST path` with `bytes` as `application/octet-stream`.
pub fn post_binary(path: &str, bytes: Vec<u8>) -> Request<Body> {
    request(
        Method::POST,
        path,
        Some("application/octet-stream"),
        Body::from(bytes),
    )
}

/// `POST path` with `json` as `application/json`.
pub fn post_json(path: &str, json: &Value) -> Request<Body> {
    request(
        Method::POST,
        path,
        Some("application/json"),
        Body::from(json.to_string()),
    )
}

/// A request with an optional `content-type`.
pub fn request(
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder
        .body(body.into())
        .unwrap_or_else(|error| panic!("a valid request to {path}: {error}"))
}

/// `request` carrying `Authorization: Bearer <token>`.
pub fn with_token(mut request: Request<Body>, token: &str) -> Request<Body> {
    let value = format!("Bearer {token}")
        .parse()
        .expect("a token is a valid header value");
    request.headers_mut().insert(header::AUTHORIZATION, value);
    request
}

/// An answer, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{} {:?} {}",
            self.status,
            self.content_type(),
            String::from_utf8_lossy(&self.body)
        )
    }
}

impl Reply {
    /// The `content-type` header, or `""` when there is none.
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().expect("an ASCII content type"))
            .unwrap_or_default()
    }

    /// The body as JSON, after checking it is declared as JSON.
    pub fn json(&self) -> Value {
        assert_eq!(self.content_type(), "application/json", "{self:?}");
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("{error}: {self:?}"))
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_else(|error| panic!("{error}: {self:?}"))
    }

    /// Checks the answer is the API's JSON refusal: `status`, `code`, and a message.
    #[track_caller]
    pub fn assert_refused(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["code"], code, "{self:?}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "a refusal explains itself: {self:?}");
    }
}
