//! Which room names the upgrade accepts, and that an accepted name is exactly one room.

use anyhow::Result;
use quire_tests::{TestClient, TestServer, room_path};

/// A percent-encoded control character in the room name is refused with 400 and a JSON error.
#[tokio::test]
async fn control_character_in_room_name_is_refused_with_json_400() -> Result<()> {
    let server = TestServer::start().await?;
    let refusal = server.refused_upgrade("/ws/%0Abad").await?;
    assert_eq!(refusal.status, 400, "{refusal:?}");
    assert_eq!(refusal.body["code"], "invalid_room_name", "{refusal:?}");
    assert!(
        refusal.body["error"]
            .as_str()
            .is_some_and(|error| !error.is_empty()),
        "{refusal:?}"
    );
    Ok(())
}

/// A 513-byte room name is refused with 400 and a JSON error; 512 bytes is accepted.
#[tokio::test]
async fn room_name_over_512_bytes_is_refused_with_json_400() -> Result<()> {
    let server = TestServer::start().await?;
    let refusal = server.refused_upgrade(&room_path(&"x".repeat(513))).await?;
    assert_eq!(refusal.status, 400, "{refusal:?}");
    assert_eq!(refusal.body["code"], "invalid_room_name", "{refusal:?}");
    assert!(refusal.body["error"].is_string(), "{refusal:?}");

    server.connect_synced(&"x".repeat(512)).await?;
    Ok(())
}

/// A plain GET without upgrade headers is refused with a JSON error.
#[tokio::test]
async fn plain_http_request_is_refused_with_json_error() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await?;
    let mut stream = tokio::net::TcpStream::connect(server.address()).await?;
    stream
        .write_all(b"GET /ws/notes HTTP/1.1\r\nHost: quire\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("an HTTP response has a head and a body");
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    let body: serde_json::Value = serde_json::from_str(body)?;
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(body["code"], "websocket_upgrade_required", "{body}");
    Ok(())
}

/// `team/日本語 notes` is one room: its clients converge and `team` is a different, empty room.
#[tokio::test]
async fn unicode_name_with_slash_is_one_room() -> Result<()> {
    let server = TestServer::start().await?;
    let name = "team/日本語 notes";
    assert_eq!(
        room_path(name),
        "/ws/team/%E6%97%A5%E6%9C%AC%E8%AA%9E%20notes"
    );
    let mut alice = server.connect_synced(name).await?;
    let mut bob = server.connect_synced(name).await?;
    alice.insert_text(0, "こんにちは").await?;
    bob.insert_text(0, "hello ").await?;
    let has_both = |client: &TestClient| {
        let text = client.text();
        text.contains("こんにちは") && text.contains("hello ")
    };
    alice.wait_until("both edits", has_both).await?;
    bob.wait_until("both edits", has_both).await?;
    assert_eq!(alice.text(), bob.text());

    let team = server.connect_synced("team").await?;
    assert_eq!(team.text(), "");
    let other = server.connect_synced("team/日本語").await?;
    assert_eq!(other.text(), "");
    Ok(())
}
