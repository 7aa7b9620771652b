//! `GET /api/docs/{id}/snapshot` in each format, with `since`, and `GET …/state-vector`.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::json;
use yrs::StateVector;
use yrs::updates::decoder::Decode;

use super::support::TestApp;
use super::yjs::{Editor, text_of_update};

/// Without `format`, the snapshot is a v1 update that rebuilds the document in Yjs.
#[tokio::test]
async fn snapshot_defaults_to_a_v1_update_of_the_whole_document() {
    let app = TestApp::new();
    let writer = app.create_document("notes", "first line").await;
    app.post_update("notes", writer.insert(10, ", second part"))
        .await;
    let reply = app.get("/api/docs/notes/snapshot").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/octet-stream");
    assert_eq!(text_of_update(&reply.body), "first line, second part");
}

/// `format=update` spelled out is the default; `format=update-v2` is a v2 update of the same.
#[tokio::test]
async fn snapshot_as_update_and_update_v2() {
    let app = TestApp::new();
    app.create_document("notes", "both ways").await;
    let v1 = app.get("/api/docs/notes/snapshot?format=update").await;
    assert_eq!(v1.content_type(), "application/octet-stream");
    assert_eq!(text_of_update(&v1.body), "both ways");

    let v2 = app.get("/api/docs/notes/snapshot?format=update-v2").await;
    assert_eq!(v2.status, StatusCode::OK);
    assert_eq!(v2.content_type(), "application/octet-stream");
    let reader = Editor::new();
    reader.apply_v2(&v2.body);
    assert_eq!(reader.text(), "both ways");
}

/// `format=json` shows every root: a text as a string, a map as an object.
#[tokio::test]
async fn snapshot_as_json_shows_every_root() {
    let app = TestApp::new();
    let writer = app.create_document("notes", "exported text").await;
    app.post_update("notes", writer.set_in_map("meta", "title", "Notes"))
        .await;
    let reply = app.get("/api/docs/notes/snapshot?format=json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"text": "exported text", "meta": {"title": "Notes"}})
    );
}

/// `format=text` is the only root text as `text/plain; charset=utf-8`.
#[tokio::test]
async fn snapshot_as_text_is_the_plain_text() {
    let app = TestApp::new();
    app.create_document("notes", "plain words, ünïcödé").await;
    let reply = app.get("/api/docs/notes/snapshot?format=text").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "text/plain; charset=utf-8");
    assert_eq!(reply.text(), "plain words, ünïcödé");
}

/// With several root texts, `name` picks one; without it, or naming none, 400 `no_such_text`.
#[tokio::test]
async fn snapshot_as_text_needs_a_name_among_several_texts() {
    let app = TestApp::new();
    let writer = Editor::new();
    app.post_update("article", writer.insert_into("title", 0, "A title"))
        .await;
    app.post_update("article", writer.insert_into("body", 0, "The body"))
        .await;
    let body = app
        .get("/api/docs/article/snapshot?format=text&name=body")
        .await;
    assert_eq!(body.status, StatusCode::OK);
    assert_eq!(body.text(), "The body");

    let unnamed = app.get("/api/docs/article/snapshot?format=text").await;
    unnamed.assert_refused(StatusCode::BAD_REQUEST, "no_such_text");
    let absent = app
        .get("/api/docs/article/snapshot?format=text&name=footer")
        .await;
    absent.assert_refused(StatusCode::BAD_REQUEST, "no_such_text");
}

/// `since` (padded or not) returns only what a stale copy lacks, and that diff completes it.
#[tokio::test]
async fn since_returns_only_what_a_stale_copy_lacks() {
    let app = TestApp::new();
    // Client 1000 is two bytes as a varint: the state vector is four bytes, padded in base64.
    let writer = Editor::with_client_id(1000);
    app.post_update("notes", writer.insert(0, "first part"))
        .await;
    let stale_snapshot = app.get("/api/docs/notes/snapshot").await.body;
    let stale_state = writer.encoded_state_vector();
    app.post_update("notes", writer.insert(10, ", second part"))
        .await;

    let full = app.get("/api/docs/notes/snapshot").await.body;
    let unpadded = URL_SAFE_NO_PAD.encode(&stale_state);
    let padded = URL_SAFE.encode(&stale_state);
    assert_ne!(unpadded, padded);
    for since in [unpadded, padded] {
        let diff = app
            .get(&format!("/api/docs/notes/snapshot?since={since}"))
            .await;
        assert_eq!(diff.status, StatusCode::OK, "since={since}: {diff:?}");
        assert!(diff.body.len() < full.len(), "the diff is smaller");
        let stale = Editor::new();
        stale.apply(&stale_snapshot);
        assert_eq!(stale.text(), "first part");
        stale.apply(&diff.body);
        assert_eq!(stale.text(), "first part, second part");
    }
}

/// An export format the server does not know is 400 `invalid_format`, naming the known ones.
#[tokio::test]
async fn an_unknown_snapshot_format_is_refused() {
    let app = TestApp::new();
    app.create_document("notes", "x").await;
    let reply = app.get("/api/docs/notes/snapshot?format=pdf").await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "invalid_format");
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("update-v2")
    );
}

/// A `since` that is not base64url, or not a state vector, is 400 `invalid_state_vector`.
#[tokio::test]
async fn a_malformed_since_is_refused() {
    let app = TestApp::new();
    app.create_document("notes", "x").await;
    // Not base64url at all; one byte that starts a varint and ends there.
    for since in ["!!!", "_w"] {
        let reply = app
            .get(&format!("/api/docs/notes/snapshot?since={since}"))
            .await;
        reply.assert_refused(StatusCode::BAD_REQUEST, "invalid_state_vector");
    }
}

/// A seven-byte `since` claiming 4.4e11 entries is refused with 400, not trusted and allocated.
#[tokio::test]
async fn a_since_claiming_billions_of_entries_is_refused() {
    let app = TestApp::new();
    app.create_document("notes", "x").await;
    let hostile = URL_SAFE_NO_PAD.encode([0xdb, 0xb9, 0x9a, 0xff, 0x8a, 0x0d, 0x0d]);
    let reply = app
        .get(&format!("/api/docs/notes/snapshot?since={hostile}"))
        .await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "invalid_state_vector");
}

/// The state vector is the binary Yjs encoding of what the document has seen.
#[tokio::test]
async fn state_vector_is_what_the_writer_has_seen() {
    let app = TestApp::new();
    let writer = app.create_document("notes", "seen").await;
    app.post_update("notes", writer.insert(4, " twice")).await;
    let reply = app.get("/api/docs/notes/state-vector").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/octet-stream");
    let served = StateVector::decode_v1(&reply.body).expect("a v1 state vector");
    assert_eq!(served, writer.state_vector());
}
