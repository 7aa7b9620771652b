//! `GET /api/docs`, `GET /api/docs/{id}` and `DELETE /api/docs/{id}`.

use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::support::{TestApp, delete, document_path, post_json};
use super::yjs::Editor;

/// The ids of a listing, in the order listed.
fn ids_of(listing: &Value) -> Vec<&str> {
    listing
        .as_array()
        .expect("a listing is an array")
        .iter()
        .map(|document| document["id"].as_str().expect("an id is a string"))
        .collect()
}

/// Checks `document` describes a stored, intact document nobody is connected to, changed
/// between `earliest` and now.
#[track_caller]
fn assert_describes_stored_document(document: &Value, earliest: SystemTime) {
    assert!(document["bytes"].as_u64().unwrap() > 0, "{document}");
    assert_eq!(document["clients"], 0, "{document}");
    assert_eq!(document["damaged"], false, "{document}");
    assert!(document["in_memory"].is_boolean(), "{document}");
    let updated_at = document["updated_at"].as_str().unwrap();
    let updated_at = humantime::parse_rfc3339_weak(updated_at)
        .unwrap_or_else(|error| panic!("updated_at {updated_at:?}: {error}"));
    assert!(
        updated_at >= earliest && updated_at <= SystemTime::now(),
        "{document}"
    );
}

/// A fresh server lists nothing; documents written since are listed in id order, described.
#[tokio::test]
async fn listing_shows_documents_in_id_order_with_their_metadata() {
    let app = TestApp::new();
    let empty = app.get("/api/docs").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json(), json!([]));

    // Timestamps have millisecond precision: allow the truncation.
    let earliest = SystemTime::now() - Duration::from_secs(1);
    for id in ["notes", "agenda", "team/roadmap"] {
        app.create_document(id, "hello").await;
    }
    let listing = app.get("/api/docs").await;
    assert_eq!(listing.status, StatusCode::OK);
    let listing = listing.json();
    assert_eq!(ids_of(&listing), ["agenda", "notes", "team/roadmap"]);
    for document in listing.as_array().unwrap() {
        assert_describes_stored_document(document, earliest);
    }
}

/// `limit` cuts the listing into pages and `after` (the last id of a page) gives the next.
#[tokio::test]
async fn listing_pages_with_limit_and_after() {
    let app = TestApp::new();
    for id in ["a", "b", "c"] {
        app.create_document(id, id).await;
    }
    let first_page = app.get("/api/docs?limit=2").await.json();
    assert_eq!(ids_of(&first_page), ["a", "b"]);
    let second_page = app.get("/api/docs?limit=2&after=b").await.json();
    assert_eq!(ids_of(&second_page), ["c"]);
    let past_the_end = app.get("/api/docs?limit=2&after=c").await.json();
    assert_eq!(past_the_end, json!([]));
}

/// A `limit` that is not a number is refused with 400 `invalid_query`.
#[tokio::test]
async fn listing_with_a_non_numeric_limit_is_refused() {
    let app = TestApp::new();
    let reply = app.get("/api/docs?limit=many").await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "invalid_query");
}

/// One document's metadata is what the listing says of it.
#[tokio::test]
async fn metadata_of_a_document_matches_its_listing() {
    let app = TestApp::new();
    let earliest = SystemTime::now() - Duration::from_secs(1);
    app.create_document("notes", "some notes").await;
    let reply = app.get("/api/docs/notes").await;
    assert_eq!(reply.status, StatusCode::OK);
    let metadata = reply.json();
    assert_eq!(metadata["id"], "notes");
    assert_describes_stored_document(&metadata, earliest);
    let listing = app.get("/api/docs").await.json();
    assert_eq!(listing[0]["bytes"], metadata["bytes"]);
}

/// An id with a slash, spaces and non-ASCII text is one percent-encoded path segment.
#[tokio::test]
async fn ids_with_slashes_and_unicode_round_trip_percent_encoded() {
    let app = TestApp::new();
    let id = "team/日本語 notes";
    app.create_document(id, "hello").await;
    let metadata = app.get(&document_path(id, "")).await;
    assert_eq!(metadata.status, StatusCode::OK, "{metadata:?}");
    assert_eq!(metadata.json()["id"], id);
    assert_eq!(ids_of(&app.get("/api/docs").await.json()), [id]);
    assert_eq!(app.text_of(id).await, "hello");
}

/// The metadata of a document nothing is stored under is 404 `document_not_found`.
#[tokio::test]
async fn metadata_of_an_unknown_document_is_404() {
    let app = TestApp::new();
    let reply = app.get("/api/docs/nope").await;
    reply.assert_refused(StatusCode::NOT_FOUND, "document_not_found");
}

/// DELETE answers 204 and the document, its content and its versions are gone.
#[tokio::test]
async fn deleting_a_document_removes_it_from_every_read() {
    let app = TestApp::new();
    app.create_document("doomed", "soon gone").await;
    app.create_document("bystander", "stays").await;
    let version = app
        .send(post_json("/api/docs/doomed/versions", &json!({})))
        .await;
    assert_eq!(version.status, StatusCode::CREATED, "{version:?}");

    let deleted = app.send(delete("/api/docs/doomed")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());

    for path in [
        "/api/docs/doomed",
        "/api/docs/doomed/snapshot",
        "/api/docs/doomed/state-vector",
        "/api/docs/doomed/versions",
        "/api/docs/doomed/versions/1/snapshot",
    ] {
        let reply = app.get(path).await;
        reply.assert_refused(StatusCode::NOT_FOUND, "document_not_found");
    }
    assert_eq!(ids_of(&app.get("/api/docs").await.json()), ["bystander"]);
    assert_eq!(app.text_of("bystander").await, "stays");
}

/// Deleting a document that is not there (any more) is 404 `document_not_found`.
#[tokio::test]
async fn deleting_an_unknown_document_is_404() {
    let app = TestApp::new();
    let never_created = app.send(delete("/api/docs/ghost")).await;
    never_created.assert_refused(StatusCode::NOT_FOUND, "document_not_found");

    app.create_document("once", "x").await;
    let first = app.send(delete("/api/docs/once")).await;
    assert_eq!(first.status, StatusCode::NO_CONTENT);
    let second = app.send(delete("/api/docs/once")).await;
    second.assert_refused(StatusCode::NOT_FOUND, "document_not_found");
}

/// A document created again after a delete starts from nothing: old content, no old versions.
#[tokio::test]
async fn a_deleted_document_created_again_starts_empty() {
    let app = TestApp::new();
    app.create_document("phoenix", "old life").await;
    app.send(post_json("/api/docs/phoenix/versions", &json!({})))
        .await;
    assert_eq!(
        app.send(delete("/api/docs/phoenix")).await.status,
        StatusCode::NO_CONTENT
    );

    let reborn = Editor::new();
    let reply = app
        .post_update("phoenix", reborn.insert(0, "new life"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(app.text_of("phoenix").await, "new life");
    assert_eq!(
        app.get("/api/docs/phoenix/versions").await.json(),
        json!([])
    );
}
