//! The change feed after a crash: marks a server left in the store are announced when the next
//! one starts, read through `GET /api/changes` as a consumer would.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::Value;
use storage::{DocStore, MemoryStore};

use super::support::{TestApp, get};

/// Reads SSE `data:` lines from `body` until `count` events have come (or the guard runs out).
async fn read_events(body: &mut Body, count: usize) -> Vec<Value> {
    let mut text = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
            .await
            .expect("the events come")
            .expect("the stream goes on")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).expect("UTF-8"));
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    events.push(serde_json::from_str(data).expect("an event is JSON"));
                }
            }
        }
    }
    events
}

/// A deletion, a version and an edit each left marked, unannounced, by a server that stopped
/// right after writing them are announced by the next server, in the store they left.
#[tokio::test]
async fn marks_left_by_a_crash_are_announced_at_start() {
    let store = Arc::new(MemoryStore::default());
    let log = store.change_log().unwrap();
    // An edit durable, its window still open.
    store.append("edited", b"update").unwrap();
    log.mark_pending(&[("edited", true)], 1).unwrap();
    // A deletion durable, its event not yet recorded.
    store.append("gone", b"update").unwrap();
    log.mark_deleting("gone", 2).unwrap();
    store.delete("gone").unwrap();
    // A version kept, its event not yet recorded.
    store.append("versioned", b"update").unwrap();
    log.mark_versioning("versioned", 3).unwrap();
    let version = store.create_version("versioned", "v", b"").unwrap();

    let app = TestApp::over_store(store.clone(), |config| config.change_feed = "on".to_owned());
    let response = app.open(get("/api/changes?since=0")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let events = read_events(&mut body, 4).await;
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|event| {
            (
                event["type"].as_str().unwrap(),
                event["document"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("version.created", "versioned"),
            ("document.created", "edited"),
            ("document.updated", "edited"),
            ("document.deleted", "gone"),
        ]
    );
    assert_eq!(events[0]["version_id"], version.id.to_string());
    assert!(events[3].get("state_vector").is_none());
    assert!(
        log.pending_changes().unwrap().is_empty(),
        "every mark settled"
    );
    app.begin_shutdown();
}

/// A stored event that does not decode is passed over: the feed goes on with the next one.
#[tokio::test]
async fn an_unreadable_event_is_passed_over() {
    let store = Arc::new(MemoryStore::default());
    let log = store.change_log().unwrap();
    let good = br#"{"type":"document.deleted","document":"d","time":"2026-12-07T12:00:00.000Z"}"#;
    log.append_events(&[b"{damaged".to_vec(), good.to_vec()], None)
        .unwrap();
    let app = TestApp::over_store(store.clone(), |config| config.change_feed = "on".to_owned());
    let response = app.open(get("/api/changes?since=0")).await;
    let mut body = response.into_body();
    let events = read_events(&mut body, 1).await;
    assert_eq!(events[0]["id"], "2");
    assert_eq!(events[0]["type"], "document.deleted");
    app.begin_shutdown();
}

/// Without a webhook or `--change-feed on` no change events are recorded, and the feed says so:
/// 501 `no_change_log`, naming the setting.
#[tokio::test]
async fn the_feed_is_off_unless_something_consumes_it() {
    let app = TestApp::new();
    let reply = app.get("/api/changes?since=0").await;
    reply.assert_refused(StatusCode::NOT_IMPLEMENTED, "no_change_log");
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("--change-feed on")
    );
}
