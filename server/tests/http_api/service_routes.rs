//! The OpenAPI document, health, readiness, metrics and the answer to unknown routes.

use axum::http::{Method, StatusCode};

use super::support::{TestApp, request};

/// `/healthz` answers `ok` and `/readyz` answers `ready` while the server runs.
#[tokio::test]
async fn health_and_readiness_answer_while_running() {
    let app = TestApp::new();
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.text(), "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.text(), "ready");
}

/// Once shutdown begins `/readyz` is 503 `shutting_down`, while `/healthz` still answers.
#[tokio::test]
async fn readiness_is_503_once_shutdown_begins() {
    let app = TestApp::new();
    app.begin_shutdown();
    let ready = app.get("/readyz").await;
    ready.assert_refused(StatusCode::SERVICE_UNAVAILABLE, "shutting_down");
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

/// `/metrics` is Prometheus text, and counts API refusals by their code.
#[tokio::test]
async fn metrics_count_refusals_by_code() {
    let app = TestApp::new();
    let refused = app.get("/api/docs/not-there").await;
    refused.assert_refused(StatusCode::NOT_FOUND, "document_not_found");
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert_eq!(
        metrics.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        metrics
            .text()
            .contains(r#"quire_refused_total{reason="document_not_found"}"#),
        "{metrics:?}"
    );
}

/// The OpenAPI document is served, and every path and method it lists reaches a handler.
#[tokio::test]
async fn every_path_in_the_openapi_document_is_routed() {
    let app = TestApp::new();
    let reply = app.get("/api/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let document = reply.json();
    assert_eq!(document["openapi"], "3.0.3");
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 12, "{paths:?}");
    for (path, methods) in paths {
        let mut concrete = path
            .replace("{id}", "openapi-probe")
            .replace("{version}", "1");
        if path == "/api/changes" {
            // A bad cursor gets a (routed) 400 at once; a good one would stream forever.
            concrete.push_str("?since=probe");
        }
        for method in methods.as_object().expect("methods").keys() {
            let method: Method = method.to_uppercase().parse().expect("an HTTP method");
            let probe = request(method.clone(), &concrete, Some("application/json"), "{}");
            let answer = app.send(probe).await;
            let unrouted = answer.status == StatusCode::METHOD_NOT_ALLOWED
                || (answer.status == StatusCode::NOT_FOUND && answer.json()["code"] == "not_found");
            assert!(!unrouted, "{method} {path} is routed: {answer:?}");
        }
    }
}

/// A path no route matches is 404 `not_found` as JSON, under `/api` and outside it.
#[tokio::test]
async fn unknown_routes_are_404_json() {
    let app = TestApp::new();
    for path in ["/api/nope", "/api/docs/notes/history", "/nope"] {
        let reply = app.get(path).await;
        reply.assert_refused(StatusCode::NOT_FOUND, "not_found");
    }
}

/// A method a route does not have is refused with 405 and, like every refusal, a JSON body.
#[tokio::test]
async fn a_method_a_route_lacks_is_a_json_405() {
    let app = TestApp::new();
    for (method, path) in [
        (Method::PUT, "/api/docs/notes"),
        (Method::GET, "/api/docs/notes/update"),
    ] {
        let reply = app.send(request(method.clone(), path, None, "")).await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(
            reply.json()["code"] == "method_not_allowed",
            "{method} {path}: {reply:?}"
        );
    }
}
