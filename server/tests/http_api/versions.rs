//! `/api/docs/{id}/versions`: creating, listing, exporting and restoring versions.

use std::time::{Duration, SystemTime};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::support::{Reply, TestApp, post_json, request};
use super::yjs::text_of_update;

/// `POST`s a version of `id` labelled `label`.
async fn create_version(app: &TestApp, id: &str, label: &str) -> Reply {
    app.send(post_json(
        &format!("/api/docs/{id}/versions"),
        &json!({"label": label}),
    ))
    .await
}

/// The `(version_id, label)` pairs of a version listing.
fn ids_and_labels(listing: &Value) -> Vec<(&str, &str)> {
    listing
        .as_array()
        .expect("a listing is an array")
        .iter()
        .map(|version| {
            (
                version["version_id"].as_str().unwrap(),
                version["label"].as_str().unwrap(),
            )
        })
        .collect()
}

/// A new version is 201 with its id, label, size and time; it keeps the content of that moment.
#[tokio::test]
async fn a_version_keeps_the_content_it_was_taken_with() {
    let app = TestApp::new();
    let writer = app.create_document("essay", "first draft").await;
    let earliest = SystemTime::now() - Duration::from_secs(1);
    let created = create_version(&app, "essay", "draft one").await;
    assert_eq!(created.status, StatusCode::CREATED);
    let version = created.json();
    assert_eq!(version["version_id"], "1");
    assert_eq!(version["label"], "draft one");
    assert!(version["bytes"].as_u64().unwrap() > 0, "{version}");
    let created_at = humantime::parse_rfc3339_weak(version["created_at"].as_str().unwrap())
        .expect("an RFC 3339 time");
    assert!(created_at >= earliest && created_at <= SystemTime::now());

    app.post_update("essay", writer.replace_text("second draft, much better"))
        .await;
    let as_text = app
        .get("/api/docs/essay/versions/1/snapshot?format=text")
        .await;
    assert_eq!(as_text.status, StatusCode::OK);
    assert_eq!(as_text.content_type(), "text/plain; charset=utf-8");
    assert_eq!(as_text.text(), "first draft");
    let as_update = app.get("/api/docs/essay/versions/1/snapshot").await;
    assert_eq!(as_update.content_type(), "application/octet-stream");
    assert_eq!(text_of_update(&as_update.body), "first draft");
    assert_eq!(app.text_of("essay").await, "second draft, much better");
}

/// Versions are listed oldest first with increasing ids; a version needs no label.
#[tokio::test]
async fn versions_are_listed_oldest_first() {
    let app = TestApp::new();
    app.create_document("essay", "text").await;
    assert_eq!(app.get("/api/docs/essay/versions").await.json(), json!([]));
    create_version(&app, "essay", "before").await;
    let unlabelled = app
        .send(post_json("/api/docs/essay/versions", &json!({})))
        .await;
    assert_eq!(unlabelled.status, StatusCode::CREATED);
    let reply = app.get("/api/docs/essay/versions").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(ids_and_labels(&reply.json()), [("1", "before"), ("2", "")]);
}

/// Restoring makes the content the version's with new edits: `changed`, then unchanged.
#[tokio::test]
async fn restoring_a_version_brings_its_content_back_as_new_edits() {
    let app = TestApp::new();
    let writer = app.create_document("essay", "first draft").await;
    create_version(&app, "essay", "draft one").await;
    app.post_update("essay", writer.replace_text("second draft"))
        .await;
    let state_before = app.get("/api/docs/essay/state-vector").await.body;

    let restore = request(Method::POST, "/api/docs/essay/versions/1/restore", None, "");
    let restored = app.send(restore).await;
    assert_eq!(restored.status, StatusCode::OK, "{restored:?}");
    assert_eq!(restored.json(), json!({"version_id": "1", "changed": true}));
    assert_eq!(app.text_of("essay").await, "first draft");
    let state_after = app.get("/api/docs/essay/state-vector").await.body;
    assert_ne!(state_after, state_before, "restoring added history");

    let restore = request(Method::POST, "/api/docs/essay/versions/1/restore", None, "");
    let again = app.send(restore).await;
    assert_eq!(again.json(), json!({"version_id": "1", "changed": false}));
}

/// A label with a control character or over 256 bytes is 400 `invalid_label`; 256 bytes pass.
#[tokio::test]
async fn invalid_labels_are_refused() {
    let app = TestApp::new();
    app.create_document("essay", "text").await;
    for label in ["bad\nlabel".to_owned(), "x".repeat(257)] {
        let reply = create_version(&app, "essay", &label).await;
        reply.assert_refused(StatusCode::BAD_REQUEST, "invalid_label");
    }
    let longest = create_version(&app, "essay", &"x".repeat(256)).await;
    assert_eq!(longest.status, StatusCode::CREATED);
    assert_eq!(
        app.get("/api/docs/essay/versions").await.json()[0]["version_id"],
        "1",
        "the refused labels made no version"
    );
}

/// JSON of the wrong shape, or broken JSON, is 400 `invalid_body`.
#[tokio::test]
async fn a_version_body_that_is_not_the_expected_json_is_refused() {
    let app = TestApp::new();
    app.create_document("essay", "text").await;
    for body in [r#"{"label": 7}"#, r#"{"label": "#, r#""a label""#] {
        let reply = app
            .send(request(
                Method::POST,
                "/api/docs/essay/versions",
                Some("application/json"),
                body,
            ))
            .await;
        reply.assert_refused(StatusCode::BAD_REQUEST, "invalid_body");
    }
    assert_eq!(app.get("/api/docs/essay/versions").await.json(), json!([]));
}

/// A version body not declared as JSON is 415 `unsupported_media_type`.
#[tokio::test]
async fn a_version_body_not_declared_as_json_is_refused_with_415() {
    let app = TestApp::new();
    app.create_document("essay", "text").await;
    for content_type in [None, Some("text/plain")] {
        let reply = app
            .send(request(
                Method::POST,
                "/api/docs/essay/versions",
                content_type,
                r#"{"label": "x"}"#,
            ))
            .await;
        reply.assert_refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
}

/// A version body over `max_body_bytes` is 413 `body_too_large`.
#[tokio::test]
async fn a_version_body_over_max_body_bytes_is_refused_with_413() {
    let app = TestApp::configured(|config| config.max_body_bytes = 1024);
    app.create_document("essay", "text").await;
    let reply = create_version(&app, "essay", &"x".repeat(2000)).await;
    reply.assert_refused(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

/// A version id that is not one of the document's is 404 `version_not_found`, on both routes.
#[tokio::test]
async fn unknown_versions_are_404() {
    let app = TestApp::new();
    app.create_document("essay", "text").await;
    create_version(&app, "essay", "the only one").await;
    for version in ["999", "0", "zero", "01", "-1"] {
        let snapshot = app
            .get(&format!("/api/docs/essay/versions/{version}/snapshot"))
            .await;
        snapshot.assert_refused(StatusCode::NOT_FOUND, "version_not_found");
        let path = format!("/api/docs/essay/versions/{version}/restore");
        let restore = app.send(request(Method::POST, &path, None, "")).await;
        restore.assert_refused(StatusCode::NOT_FOUND, "version_not_found");
    }
    assert_eq!(app.text_of("essay").await, "text");
}

/// A version's export checks `format` and `since` as the document's does.
#[tokio::test]
async fn version_snapshot_parameters_are_checked() {
    let app = TestApp::new();
    app.create_document("essay", "text").await;
    create_version(&app, "essay", "v").await;
    let format = app
        .get("/api/docs/essay/versions/1/snapshot?format=docx")
        .await;
    format.assert_refused(StatusCode::BAD_REQUEST, "invalid_format");
    let since = app
        .get("/api/docs/essay/versions/1/snapshot?since=!!!")
        .await;
    since.assert_refused(StatusCode::BAD_REQUEST, "invalid_state_vector");
    let json = app
        .get("/api/docs/essay/versions/1/snapshot?format=json")
        .await;
    assert_eq!(json.json(), json!({"text": "text"}));
}

/// A version nesting shared types 50,000 deep (a client can write one) cannot be restored: 400
/// `too_deeply_nested`, the document unchanged and the server still answering, where walking it
/// would have overflowed a stack and aborted the process.
#[tokio::test]
async fn restoring_an_absurdly_nested_version_is_refused() {
    use yrs::{ReadTxn, StateVector, Transact, WriteTxn, XmlElementPrelim, XmlFragment};
    let app = TestApp::new();
    let doc = yrs::Doc::new();
    {
        let mut transaction = doc.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("deep");
        let mut parent = fragment.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        for _ in 0..50_000 {
            parent = parent.push_back(&mut transaction, XmlElementPrelim::empty("div"));
        }
    }
    let deep = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    assert_eq!(app.post_update("notes", deep).await.status, StatusCode::OK);
    assert_eq!(
        create_version(&app, "notes", "deep").await.status,
        StatusCode::CREATED
    );
    let before = app.get("/api/docs/notes/snapshot").await.body;
    app.send(request(
        Method::POST,
        "/api/docs/notes/versions/1/restore",
        None,
        "",
    ))
    .await
    .assert_refused(StatusCode::BAD_REQUEST, "too_deeply_nested");
    assert_eq!(app.get("/api/docs/notes/snapshot").await.body, before);
}
