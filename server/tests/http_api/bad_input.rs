//! Every document route given an unknown document or an invalid id.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use super::support::{TestApp, delete, get, post_binary, post_json, request};
use super::yjs::Editor;

/// Every route under `/api/docs/{id}`, as requests for the id segment `segment` (sent as is,
/// so it may be percent-encoded already), each with a body it would accept.
fn every_document_route(segment: &str) -> Vec<Request<Body>> {
    let path = |rest: &str| format!("/api/docs/{segment}{rest}");
    vec![
        get(&path("")),
        delete(&path("")),
        get(&path("/snapshot")),
        get(&path("/state-vector")),
        post_binary(&path("/update"), Editor::new().insert(0, "x")),
        get(&path("/versions")),
        post_json(&path("/versions"), &json!({"label": "x"})),
        get(&path("/versions/1/snapshot")),
        request(Method::POST, &path("/versions/1/restore"), None, ""),
    ]
}

/// Every route but `POST …/update` (which creates documents) answers a document nothing is
/// stored under with 404 `document_not_found`, and creates nothing.
#[tokio::test]
async fn unknown_documents_are_404_on_every_route_but_update() {
    let app = TestApp::new();
    let routes = every_document_route("ghost")
        .into_iter()
        .filter(|request| !request.uri().path().ends_with("/update"));
    for request in routes {
        let route = format!("{} {}", request.method(), request.uri());
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{route}: {reply:?}");
        assert_eq!(reply.json()["code"], "document_not_found", "{route}");
    }
    assert_eq!(app.get("/api/docs").await.json(), json!([]));
}

/// Checks every document route refuses the id segment `segment` with 400 `invalid_document_id`.
async fn assert_every_route_refuses_id(segment: &str) {
    let app = TestApp::new();
    for request in every_document_route(segment) {
        let route = format!("{} {}", request.method(), request.uri());
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{route}: {reply:?}");
        assert_eq!(reply.json()["code"], "invalid_document_id", "{route}");
    }
    assert_eq!(app.get("/api/docs").await.json(), json!([]));
}

/// An id holding a control character is 400 `invalid_document_id` on every route.
#[tokio::test]
async fn ids_with_control_characters_are_refused_on_every_route() {
    assert_every_route_refuses_id("bad%0Aname").await;
    assert_every_route_refuses_id("bad%7Fid").await;
}

/// An id over 512 bytes is 400 `invalid_document_id` on every route; 512 bytes are accepted.
#[tokio::test]
async fn ids_over_512_bytes_are_refused_on_every_route() {
    assert_every_route_refuses_id(&"x".repeat(513)).await;
    let app = TestApp::new();
    let longest = "x".repeat(512);
    app.create_document(&longest, "fits").await;
    assert_eq!(app.text_of(&longest).await, "fits");
}

/// An id whose percent-encoding is not UTF-8 is 400 on every route, `invalid_document_id` on
/// the routes without a version in their path.
#[tokio::test]
async fn ids_that_are_not_utf8_are_refused_on_every_route() {
    let app = TestApp::new();
    for request in every_document_route("%FF%FE") {
        let route = format!("{} {}", request.method(), request.uri());
        let names_a_version = route.contains("/versions/");
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{route}: {reply:?}");
        if !names_a_version {
            assert_eq!(reply.json()["code"], "invalid_document_id", "{route}");
        }
    }
}

/// On the routes with a version in their path, a non-UTF-8 id is `invalid_document_id` too.
#[tokio::test]
async fn ids_that_are_not_utf8_get_the_documented_code_on_version_routes() {
    let app = TestApp::new();
    let routes = every_document_route("%FF%FE")
        .into_iter()
        .filter(|request| request.uri().path().contains("/versions/"));
    for request in routes {
        let route = format!("{} {}", request.method(), request.uri());
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{route}: {reply:?}");
        assert_eq!(reply.json()["code"], "invalid_document_id", "{route}");
    }
}
