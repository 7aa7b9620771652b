//! Idle documents let go of while their clients stay connected, and woken when one speaks.

use std::time::Duration;

use anyhow::{Result, bail};
use quire_tests::TestServer;

/// A server that lets documents go after one idle second.
async fn sleepy_server() -> Result<TestServer> {
    TestServer::start_with(|config| config.document_idle_seconds = 1).await
}

/// Polls `GET /api/docs/{name}` until its `in_memory` is `expected`.
async fn wait_for_in_memory(server: &TestServer, name: &str, expected: bool) -> Result<()> {
    wait_for_summary(server, name, |summary| summary["in_memory"] == expected).await
}

/// Polls `GET /api/docs/{name}` until `done` holds for it.
async fn wait_for_summary(
    server: &TestServer,
    name: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let summary: serde_json::Value =
            serde_json::from_str(&server.get(&format!("/api/docs/{name}")).await?)?;
        if done(&summary) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{name} stayed {summary}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clients of a room whose document slept keep editing together once it wakes, and a newcomer
/// joins them with everything.
#[tokio::test]
async fn clients_stay_connected_while_their_document_sleeps_and_wakes() -> Result<()> {
    let server = sleepy_server().await?;
    let mut alice = server.connect_synced("sleepy").await?;
    let mut bob = server.connect_synced("sleepy").await?;
    alice.append_text("hello").await?;
    bob.wait_for_text("hello").await?;

    wait_for_in_memory(&server, "sleepy", false).await?;
    bob.append_text(" world").await?;
    alice.wait_for_text("hello world").await?;
    wait_for_in_memory(&server, "sleepy", true).await?;

    let mut carol = server.connect_synced("sleepy").await?;
    assert_eq!(carol.text(), "hello world");
    carol.append_text("!").await?;
    alice.wait_for_text("hello world!").await?;
    bob.wait_for_text("hello world!").await?;
    Ok(())
}

/// A room where someone shows presence stays loaded (presence lives only in memory), while a
/// quiet room started after it falls asleep.
#[tokio::test]
async fn presence_keeps_a_document_awake() -> Result<()> {
    let server = sleepy_server().await?;
    let mut present = server.connect_synced("present").await?;
    present.append_text("here").await?;
    present.set_awareness(r#"{"user":"ada"}"#).await?;
    present.wait_for_server_to_catch_up().await?;
    let mut quiet = server.connect_synced("quiet").await?;
    quiet.append_text("shh").await?;
    quiet.wait_for_server_to_catch_up().await?;

    wait_for_in_memory(&server, "quiet", false).await?;
    let present: serde_json::Value = serde_json::from_str(&server.get("/api/docs/present").await?)?;
    assert_eq!(present["in_memory"], true, "{present}");
    assert_eq!(present["clients"], 1, "{present}");
    Ok(())
}

/// A sleeping document answers the HTTP API (it wakes), and when its last client leaves it is
/// released with everything stored.
#[tokio::test]
async fn a_sleeping_document_serves_reads_and_is_released_when_everyone_leaves() -> Result<()> {
    let server = sleepy_server().await?;
    let mut writer = server.connect_synced("notes").await?;
    writer.append_text("kept").await?;
    writer.wait_for_server_to_catch_up().await?;
    wait_for_in_memory(&server, "notes", false).await?;

    let text = server.get("/api/docs/notes/snapshot?format=text").await?;
    assert_eq!(text, "kept");
    wait_for_in_memory(&server, "notes", false).await?;

    writer.close().await?;
    wait_for_summary(&server, "notes", |summary| {
        summary["clients"] == 0 && summary["in_memory"] == false
    })
    .await?;
    let reader = server.connect_synced("notes").await?;
    assert_eq!(reader.text(), "kept");
    Ok(())
}
