//! `POST /api/docs/{id}/update`: server-side edits, and the bodies it refuses.

use axum::http::{Method, StatusCode};
use serde_json::json;
use yrs::StateVector;

use super::support::{TestApp, post_binary, request};
use super::yjs::Editor;

/// The update of an edit typing `count` characters, larger than `count` bytes.
fn update_of_length(count: usize) -> Vec<u8> {
    Editor::new().insert(0, &"x".repeat(count))
}

/// A POSTed update creates the document, answers `{"changed": true}` and shows in the snapshot.
#[tokio::test]
async fn a_posted_update_creates_the_document_and_shows_in_its_snapshot() {
    let app = TestApp::new();
    let unknown = app.get("/api/docs/posted").await;
    unknown.assert_refused(StatusCode::NOT_FOUND, "document_not_found");

    let writer = Editor::new();
    let reply = app
        .post_update("posted", writer.insert(0, "from http"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"changed": true}));
    assert_eq!(app.get("/api/docs/posted").await.status, StatusCode::OK);
    assert_eq!(app.text_of("posted").await, "from http");

    app.post_update("posted", writer.insert(0, "more ")).await;
    assert_eq!(app.text_of("posted").await, "more from http");
}

/// An update the document already holds answers `{"changed": false}` and changes nothing.
#[tokio::test]
async fn posting_an_update_again_changes_nothing() {
    let app = TestApp::new();
    let writer = app.create_document("notes", "once").await;
    let before = app.get("/api/docs/notes/snapshot").await.body;
    let reply = app.post_update("notes", writer.whole_update()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"changed": false}));
    assert_eq!(app.get("/api/docs/notes/snapshot").await.body, before);
}

/// An update holding nothing answers `{"changed": false}` and creates no document.
#[tokio::test]
async fn an_empty_update_creates_nothing() {
    let app = TestApp::new();
    let nothing = Editor::new().whole_update();
    let reply = app.post_update("empty", nothing).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json(), json!({"changed": false}));
    let unknown = app.get("/api/docs/empty").await;
    unknown.assert_refused(StatusCode::NOT_FOUND, "document_not_found");
}

/// With `format=update-v2` the body is a v2 update; `format=update` and no content type also
/// work.
#[tokio::test]
async fn v2_updates_and_bodies_without_a_content_type_are_accepted() {
    let app = TestApp::new();
    let writer = app.create_document("notes", "v1").await;

    let before = writer.state_vector();
    // The edit is sent below as a v2 update, not as the v1 one `insert` returns.
    writer.insert(2, " then v2");
    let v2 = writer.update_v2_since(&before);
    let reply = app
        .send(post_binary("/api/docs/notes/update?format=update-v2", v2))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json(), json!({"changed": true}));
    assert_eq!(app.text_of("notes").await, "v1 then v2");

    let untyped = request(
        Method::POST,
        "/api/docs/notes/update?format=update",
        None,
        writer.insert(0, "untyped "),
    );
    let reply = app.send(untyped).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(app.text_of("notes").await, "untyped v1 then v2");
}

/// A body that is not a Yjs update is 400 `malformed_update`; nothing changes or is created.
#[tokio::test]
async fn a_malformed_update_is_refused_and_changes_nothing() {
    let app = TestApp::new();
    app.create_document("guarded", "intact").await;
    let before = app.get("/api/docs/guarded/snapshot").await.body;
    for id in ["guarded", "never-created"] {
        let reply = app.post_update(id, vec![1, 2, 3, 255, 255]).await;
        reply.assert_refused(StatusCode::BAD_REQUEST, "malformed_update");
    }
    assert_eq!(app.get("/api/docs/guarded/snapshot").await.body, before);
    let unknown = app.get("/api/docs/never-created").await;
    unknown.assert_refused(StatusCode::NOT_FOUND, "document_not_found");
}

/// A body that is not a v2 update, sent as one, is 400 `malformed_update`.
#[tokio::test]
async fn a_malformed_v2_update_is_refused() {
    let app = TestApp::new();
    app.create_document("guarded", "intact").await;
    let reply = app
        .send(post_binary(
            "/api/docs/guarded/update?format=update-v2",
            vec![1, 2, 3],
        ))
        .await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "malformed_update");
    assert_eq!(app.text_of("guarded").await, "intact");
}

/// An update `format` other than `update` and `update-v2` is 400 `invalid_format`.
#[tokio::test]
async fn an_unknown_update_format_is_refused() {
    let app = TestApp::new();
    let update = Editor::new().insert(0, "zipped?");
    let reply = app
        .send(post_binary("/api/docs/notes/update?format=zip", update))
        .await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "invalid_format");
    let unknown = app.get("/api/docs/notes").await;
    unknown.assert_refused(StatusCode::NOT_FOUND, "document_not_found");
}

/// A body over `max_body_bytes` is 413 `body_too_large` and stores nothing; one under it passes.
#[tokio::test]
async fn a_body_over_max_body_bytes_is_refused_with_413() {
    let app = TestApp::configured(|config| config.max_body_bytes = 1024);
    let reply = app.post_update("limited", update_of_length(4096)).await;
    reply.assert_refused(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    let unknown = app.get("/api/docs/limited").await;
    unknown.assert_refused(StatusCode::NOT_FOUND, "document_not_found");

    let reply = app.post_update("limited", update_of_length(900)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

/// A body declared as anything but `application/octet-stream` is 415 `unsupported_media_type`.
#[tokio::test]
async fn a_body_declared_as_another_type_is_refused_with_415() {
    let app = TestApp::new();
    let update = Editor::new().insert(0, "typed wrong");
    for content_type in ["text/plain", "application/json"] {
        let reply = app
            .send(request(
                Method::POST,
                "/api/docs/notes/update",
                Some(content_type),
                update.clone(),
            ))
            .await;
        reply.assert_refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    let unknown = app.get("/api/docs/notes").await;
    unknown.assert_refused(StatusCode::NOT_FOUND, "document_not_found");
}

/// An update that builds on content the server never received is refused, not half-applied.
#[tokio::test]
async fn an_update_missing_its_dependencies_is_refused() {
    let app = TestApp::new();
    let writer = Editor::new();
    writer.insert(0, "never sent");
    let after_missing_part = writer.state_vector();
    writer.insert(10, ", sent");
    let depends_on_missing = writer.update_since(&after_missing_part);
    assert_ne!(after_missing_part, StateVector::default());

    let reply = app.post_update("gappy", depends_on_missing).await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "malformed_update");
}
