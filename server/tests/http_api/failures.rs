//! What clients see when the store fails: 500 `internal_error` and 503 `document_unavailable`.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::json;
use storage::{DocStore, MemoryStore};

use super::failing_store::{FAILURE_DETAIL, Failure, failing_store};
use super::support::{TestApp, post_json, request};
use super::yjs::Editor;

/// An app whose store holds document `stored` (some text, and version 1 of it), then fails
/// at `failure`.
fn app_over_failing_store(stored: &str, failure: Failure) -> TestApp {
    let memory = MemoryStore::default();
    let content = Editor::new().insert(0, "stored before the failure");
    memory
        .append(stored, &content)
        .expect("the memory store appends");
    memory
        .create_version(stored, "kept", &content)
        .expect("the memory store keeps versions");
    let store: Arc<dyn DocStore> = Arc::new(failing_store(memory, failure));
    TestApp::over_store(store, |_| {})
}

/// A failing listing is 500 `internal_error`, and the store's error stays in the log.
#[tokio::test]
async fn a_store_failure_is_500_without_its_detail() {
    let app = app_over_failing_store("notes", Failure::Listing);
    let reply = app.get("/api/docs").await;
    reply.assert_refused(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    assert!(!reply.text().contains(FAILURE_DETAIL), "{reply:?}");
    assert_eq!(app.get("/api/docs/notes").await.status, StatusCode::OK);
}

/// A document whose content cannot be loaded is 503 `document_unavailable` to readers.
#[tokio::test]
async fn a_document_that_cannot_be_loaded_is_503() {
    let app = app_over_failing_store("notes", Failure::Loading);
    for path in ["/api/docs/notes/snapshot", "/api/docs/notes/state-vector"] {
        let reply = app.get(path).await;
        reply.assert_refused(StatusCode::SERVICE_UNAVAILABLE, "document_unavailable");
    }
    let version = app
        .send(post_json("/api/docs/notes/versions", &json!({})))
        .await;
    version.assert_refused(StatusCode::SERVICE_UNAVAILABLE, "document_unavailable");
}

/// An edit or a restore of a document that cannot be loaded is 500 `internal_error`: it is not
/// known to be applied (readers of the same document get 503).
#[tokio::test]
async fn an_edit_of_a_document_that_cannot_be_loaded_is_500() {
    let app = app_over_failing_store("notes", Failure::Loading);
    let update = app
        .post_update("notes", Editor::new().insert(0, "lost?"))
        .await;
    update.assert_refused(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    let restore = request(Method::POST, "/api/docs/notes/versions/1/restore", None, "");
    let restore = app.send(restore).await;
    restore.assert_refused(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
}
