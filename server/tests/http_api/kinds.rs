//! `POST /api/docs` and document kinds: a document is `text` or `rich` from its creation, the
//! kind is listed, and it decides which export formats the document has.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use server::auth::{AccessLevel, Authenticator};

use super::support::{TestApp, post_json, with_token};
use super::yjs::Editor;

/// A created document is empty, of the kind asked, and listed with it.
#[tokio::test]
async fn a_created_document_has_its_kind_in_the_listing_and_its_metadata() {
    let app = TestApp::new();
    let created = app.create_of_kind("team/plan", "rich").await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let summary = created.json();
    assert_eq!(
        (summary["id"].as_str(), summary["kind"].as_str()),
        (Some("team/plan"), Some("rich"))
    );
    assert_eq!(summary["bytes"], 0);

    app.create_document("notes", "typed first").await;
    let listing = app.get("/api/docs").await.json();
    let kinds: Vec<(&str, &str)> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|document| {
            (
                document["id"].as_str().unwrap(),
                document["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("notes", "text"), ("team/plan", "rich")]);
    assert_eq!(
        app.get("/api/docs/team%2Fplan").await.json()["kind"],
        "rich"
    );
}

/// Without an id the server names the document with a fresh UUID; without a kind it is text.
#[tokio::test]
async fn creation_without_an_id_or_kind_gets_a_uuid_and_text() {
    let app = TestApp::new();
    let first = app.send(post_json("/api/docs", &json!({}))).await;
    let second = app.send(post_json("/api/docs", &json!({}))).await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let first_id = first.json()["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&first_id).is_ok(), "{first_id}");
    assert_ne!(first_id, second.json()["id"].as_str().unwrap());
    assert_eq!(first.json()["kind"], "text");
}

/// An id already taken is 409 `document_exists`, and the document keeps its kind and content.
#[tokio::test]
async fn creating_an_existing_document_is_a_conflict_that_changes_nothing() {
    let app = TestApp::new();
    app.create_document("notes", "kept as it is").await;
    app.create_of_kind("notes", "rich")
        .await
        .assert_refused(StatusCode::CONFLICT, "document_exists");
    assert_eq!(app.get("/api/docs/notes").await.json()["kind"], "text");
    assert_eq!(app.text_of("notes").await, "kept as it is");

    app.create_of_kind("plan", "rich").await;
    app.create_of_kind("plan", "text")
        .await
        .assert_refused(StatusCode::CONFLICT, "document_exists");
    assert_eq!(app.get("/api/docs/plan").await.json()["kind"], "rich");
}

/// An unknown kind, an invalid id and a malformed body are 400s naming the problem.
#[tokio::test]
async fn bad_creations_are_refused_and_create_nothing() {
    let app = TestApp::new();
    let unknown = app.create_of_kind("plan", "spreadsheet").await;
    unknown.assert_refused(StatusCode::BAD_REQUEST, "invalid_kind");
    assert!(
        unknown.json()["error"]
            .as_str()
            .unwrap()
            .contains("\"spreadsheet\"")
    );
    app.create_of_kind("bad\u{0}id", "rich")
        .await
        .assert_refused(StatusCode::BAD_REQUEST, "invalid_document_id");
    app.send(post_json(
        "/api/docs",
        &json!({ "id": "plan", "colour": "red" }),
    ))
    .await
    .assert_refused(StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(app.get("/api/docs").await.json(), json!([]));
}

/// With tokens, creating needs write access to the id: none is 401, read-only is 403.
#[tokio::test]
async fn creating_needs_a_token_with_write_access() {
    const SECRET: &str = "the server's secret";
    let app = TestApp::configured(|config| config.auth_secret = Some(SECRET.to_owned()));
    let token = |access| {
        Authenticator::new(SECRET)
            .issue("team/*", access, Duration::from_secs(3600))
            .unwrap()
    };
    let body = json!({ "id": "team/plan", "kind": "rich" });
    app.send(post_json("/api/docs", &body))
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "unauthorized");
    app.send(with_token(
        post_json("/api/docs", &body),
        &token(AccessLevel::Read),
    ))
    .await
    .assert_refused(StatusCode::FORBIDDEN, "forbidden");
    let outside = json!({ "id": "elsewhere", "kind": "rich" });
    app.send(with_token(
        post_json("/api/docs", &outside),
        &token(AccessLevel::Write),
    ))
    .await
    .assert_refused(StatusCode::FORBIDDEN, "forbidden");
    let created = app
        .send(with_token(
            post_json("/api/docs", &body),
            &token(AccessLevel::Write),
        ))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
}

/// A rich document has no `text` format, and a new one exports as an empty document.
#[tokio::test]
async fn a_rich_document_is_refused_plain_text_and_starts_empty() {
    let app = TestApp::new();
    app.create_of_kind("plan", "rich").await;
    let text = app.get("/api/docs/plan/snapshot?format=text").await;
    text.assert_refused(StatusCode::BAD_REQUEST, "format_not_for_kind");
    assert_eq!(
        text.json()["error"],
        "format text is for text documents; this document is rich"
    );
    assert_eq!(
        app.get("/api/docs/plan/snapshot?format=html").await.text(),
        ""
    );
    assert_eq!(
        app.get("/api/docs/plan/snapshot?format=prosemirror-json")
            .await
            .json(),
        json!({ "type": "doc", "content": [] })
    );
    // Edits keep the kind: it was chosen once, at creation.
    app.post_update("plan", Editor::new().insert(0, "x")).await;
    assert_eq!(app.get("/api/docs/plan").await.json()["kind"], "rich");
}
