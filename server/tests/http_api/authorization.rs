//! `--auth-secret`: every `/api` document route needs a bearer token granting enough.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use server::auth::{AccessLevel, Authenticator, Claims};

use super::support::{Reply, TestApp, delete, get, post_binary, post_json, request, with_token};
use super::yjs::Editor;

const SECRET: &str = "the server's secret";

/// An app that requires tokens signed with [`SECRET`].
fn app_with_auth() -> TestApp {
    TestApp::configured(|config| config.auth_secret = Some(SECRET.to_owned()))
}

/// A token for `doc` (an id, or a prefix ending in `*`) granting `access` for an hour.
fn token(doc: &str, access: AccessLevel) -> String {
    Authenticator::new(SECRET)
        .issue(doc, access, Duration::from_secs(3600))
        .expect("signing succeeds")
}

/// Someone calling the API, with a token or without one.
struct Caller<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl<'a> Caller<'a> {
    /// A caller without a token.
    fn anonymous(app: &'a TestApp) -> Self {
        Caller { app, token: None }
    }

    /// A caller with a token for `doc` granting `access`.
    fn holding(app: &'a TestApp, doc: &str, access: AccessLevel) -> Self {
        Caller {
            app,
            token: Some(token(doc, access)),
        }
    }

    /// A caller sending `token` as it is.
    fn with_raw_token(app: &'a TestApp, token: &str) -> Self {
        Caller {
            app,
            token: Some(token.to_owned()),
        }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let request = match &self.token {
            Some(token) => with_token(request, token),
            None => request,
        };
        self.app.send(request).await
    }

    /// Checks each of `requests` succeeds.
    async fn assert_each_succeeds(&self, requests: Vec<Request<Body>>) {
        for request in requests {
            let route = format!("{} {}", request.method(), request.uri());
            let reply = self.send(request).await;
            assert!(reply.status.is_success(), "{route}: {reply:?}");
        }
    }

    /// Checks each of `requests` is refused with `status` and `code`.
    async fn assert_each_refused(
        &self,
        requests: Vec<Request<Body>>,
        status: StatusCode,
        code: &str,
    ) {
        for request in requests {
            let route = format!("{} {}", request.method(), request.uri());
            let reply = self.send(request).await;
            assert_eq!(reply.status, status, "{route}: {reply:?}");
            assert_eq!(reply.json()["code"], code, "{route}");
        }
    }
}

/// Document `id` holding `text`, and version 1 of it, written with an admin token.
async fn create_document(app: &TestApp, id: &str, text: &str) {
    let admin = Caller::holding(app, "*", AccessLevel::Admin);
    let update = Editor::new().insert(0, text);
    let created = post_binary(&format!("/api/docs/{id}/update"), update);
    let version = post_json(&format!("/api/docs/{id}/versions"), &json!({}));
    admin.assert_each_succeeds(vec![created, version]).await;
}

/// The routes that only read document `id`.
fn reads(id: &str) -> Vec<Request<Body>> {
    vec![
        get(&format!("/api/docs/{id}")),
        get(&format!("/api/docs/{id}/snapshot")),
        get(&format!("/api/docs/{id}/state-vector")),
        get(&format!("/api/docs/{id}/versions")),
        get(&format!("/api/docs/{id}/versions/1/snapshot")),
    ]
}

/// The routes that edit document `id` (`write` access).
fn writes(id: &str) -> Vec<Request<Body>> {
    let update = Editor::new().insert(0, "edit");
    let restore = format!("/api/docs/{id}/versions/1/restore");
    vec![
        post_binary(&format!("/api/docs/{id}/update"), update),
        post_json(&format!("/api/docs/{id}/versions"), &json!({"label": "x"})),
        request(Method::POST, &restore, None, ""),
    ]
}

/// Every route of document `id`: reads, writes and the delete.
fn every_route(id: &str) -> Vec<Request<Body>> {
    let mut routes = reads(id);
    routes.extend(writes(id));
    routes.push(delete(&format!("/api/docs/{id}")));
    routes
}

/// Without a token, every `/api` document route and the listing are 401 `unauthorized`.
#[tokio::test]
async fn every_document_route_needs_a_token() {
    let app = app_with_auth();
    create_document(&app, "notes", "secret notes").await;
    let mut routes = every_route("notes");
    routes.push(get("/api/docs"));
    Caller::anonymous(&app)
        .assert_each_refused(routes, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    assert_eq!(text_of(&app, "notes").await, "secret notes");
}

/// A malformed token, one signed with another secret, an expired one and a non-bearer
/// `Authorization` are all 401 `unauthorized`.
#[tokio::test]
async fn malformed_foreign_and_expired_tokens_are_401() {
    let app = app_with_auth();
    create_document(&app, "notes", "secret notes").await;
    let foreign = Authenticator::new("another secret")
        .issue("*", AccessLevel::Admin, Duration::from_secs(3600))
        .unwrap();
    let expired_claims = Claims {
        doc: "*".to_owned(),
        access: AccessLevel::Admin,
        exp: 1,
    };
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &expired_claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    for bad_token in ["not-a-jwt", &foreign, &expired] {
        Caller::with_raw_token(&app, bad_token)
            .assert_each_refused(reads("notes"), StatusCode::UNAUTHORIZED, "unauthorized")
            .await;
    }

    let mut basic = get("/api/docs/notes/snapshot");
    let credentials = "Basic dXNlcjpwYXNz".parse().unwrap();
    basic
        .headers_mut()
        .insert(header::AUTHORIZATION, credentials);
    let reply = app.send(basic).await;
    reply.assert_refused(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// A token for another document is 403 `forbidden` on every route of this one.
#[tokio::test]
async fn a_token_for_another_document_is_403() {
    let app = app_with_auth();
    create_document(&app, "notes", "secret notes").await;
    Caller::holding(&app, "other*", AccessLevel::Admin)
        .assert_each_refused(every_route("notes"), StatusCode::FORBIDDEN, "forbidden")
        .await;
    assert_eq!(text_of(&app, "notes").await, "secret notes");
}

/// A `read` token reads, but every edit and the delete are 403 `forbidden` and change nothing.
#[tokio::test]
async fn a_read_token_reads_but_cannot_write() {
    let app = app_with_auth();
    create_document(&app, "notes", "read only").await;
    let reader = Caller::holding(&app, "notes", AccessLevel::Read);
    reader.assert_each_succeeds(reads("notes")).await;
    let mut edits = writes("notes");
    edits.push(delete("/api/docs/notes"));
    reader
        .assert_each_refused(edits, StatusCode::FORBIDDEN, "forbidden")
        .await;
    assert_eq!(text_of(&app, "notes").await, "read only");
}

/// A `write` token edits but may not delete (403); an `admin` token deletes (204).
#[tokio::test]
async fn deleting_needs_an_admin_token() {
    let app = app_with_auth();
    create_document(&app, "notes", "precious").await;
    let writer = Caller::holding(&app, "notes", AccessLevel::Write);
    writer.assert_each_succeeds(writes("notes")).await;
    let refused = writer.send(delete("/api/docs/notes")).await;
    refused.assert_refused(StatusCode::FORBIDDEN, "forbidden");

    let admin = Caller::holding(&app, "notes", AccessLevel::Admin);
    let deleted = admin.send(delete("/api/docs/notes")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
}

/// A listing shows only the documents the token names; `*` names them all.
#[tokio::test]
async fn a_listing_shows_only_the_documents_the_token_names() {
    let app = app_with_auth();
    for id in ["team-a", "team-b", "private"] {
        create_document(&app, id, id).await;
    }
    let team = Caller::holding(&app, "team-*", AccessLevel::Read);
    assert_eq!(listed_ids(&team).await, ["team-a", "team-b"]);
    let everyone = Caller::holding(&app, "*", AccessLevel::Read);
    assert_eq!(listed_ids(&everyone).await, ["private", "team-a", "team-b"]);
}

/// The ids `GET /api/docs` lists for `caller`.
async fn listed_ids(caller: &Caller<'_>) -> Vec<String> {
    let listing = caller.send(get("/api/docs")).await.json();
    listing
        .as_array()
        .expect("a listing is an array")
        .iter()
        .map(|document| document["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Document `id`'s text, read with an admin token.
async fn text_of(app: &TestApp, id: &str) -> String {
    let admin = Caller::holding(app, "*", AccessLevel::Admin);
    let path = format!("/api/docs/{id}/snapshot?format=text");
    let reply = admin.send(get(&path)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.text().to_owned()
}

/// Health, readiness, metrics and the OpenAPI document need no token.
#[tokio::test]
async fn service_routes_need_no_token() {
    let app = app_with_auth();
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
    }
}
