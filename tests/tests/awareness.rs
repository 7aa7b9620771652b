//! Presence over real sockets: states arrive, and vanish when their connection ends.

use anyhow::Result;
use quire_tests::TestServer;

/// A's awareness state reaches B, and B sees it removed when A closes its connection cleanly.
#[tokio::test]
async fn awareness_arrives_and_is_removed_on_clean_close() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("presence").await?;
    let mut bob = server.connect_synced("presence").await?;
    let alice_id = alice.awareness_id();

    alice
        .set_awareness(r##"{"user":{"name":"alice","color":"#ff0000"}}"##)
        .await?;
    bob.wait_until("alice's state", |client| {
        client.awareness_state(alice_id).is_some()
    })
    .await?;
    let state: serde_json::Value =
        serde_json::from_str(&bob.awareness_state(alice_id).unwrap_or_default())?;
    assert_eq!(state["user"]["name"], "alice");

    alice.close().await?;
    bob.wait_until("alice's removal", |client| {
        client.awareness_state(alice_id).is_none()
    })
    .await?;
    Ok(())
}

/// B sees A's awareness state removed when A's socket is dropped without a close handshake.
#[tokio::test]
async fn awareness_is_removed_when_the_socket_drops_without_closing() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("presence").await?;
    let mut bob = server.connect_synced("presence").await?;
    let alice_id = alice.awareness_id();

    alice.set_awareness(r#"{"user":"alice"}"#).await?;
    bob.wait_until("alice's state", |client| {
        client.awareness_state(alice_id).is_some()
    })
    .await?;

    drop(alice);
    bob.wait_until("alice's removal", |client| {
        client.awareness_state(alice_id).is_none()
    })
    .await?;
    Ok(())
}

/// A joiner sees who is present at once (no 15 s renewal wait), then their later changes.
#[tokio::test]
async fn joiner_sees_present_users_and_later_changes() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("presence").await?;
    let alice_id = alice.awareness_id();
    alice.set_awareness(r#"{"cursor":1}"#).await?;
    alice
        .wait_until("its own state echoed", |client| {
            client.awareness_state(alice_id).is_some()
        })
        .await?;

    let mut bob = server.connect_synced("presence").await?;
    bob.wait_until("alice's state", |client| {
        client.awareness_state(alice_id).as_deref() == Some(r#"{"cursor":1}"#)
    })
    .await?;

    alice.set_awareness(r#"{"cursor":7}"#).await?;
    bob.wait_until("alice's new cursor", |client| {
        client.awareness_state(alice_id).as_deref() == Some(r#"{"cursor":7}"#)
    })
    .await?;
    Ok(())
}
