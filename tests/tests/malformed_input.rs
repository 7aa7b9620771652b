//! Bad input from one client closes that client only, with the documented close code.

use anyhow::Result;
use quire_tests::{TestClient, TestServer};

/// Sends one edit from each of the two healthy clients and checks both still converge.
async fn assert_room_still_converges(
    alice: &mut TestClient,
    bob: &mut TestClient,
    marker: &str,
) -> Result<()> {
    alice.append_text(&format!("<alice {marker}>")).await?;
    bob.append_text(&format!("<bob {marker}>")).await?;
    let has_both = |client: &TestClient| {
        let text = client.text();
        text.contains(&format!("<alice {marker}>")) && text.contains(&format!("<bob {marker}>"))
    };
    alice.wait_until(marker, has_both).await?;
    bob.wait_until(marker, has_both).await?;
    assert_eq!(alice.text(), bob.text());
    Ok(())
}

/// A truncated update (`[0, 2, 10, 1]`) closes only its sender, with 1007 and a reason.
#[tokio::test]
async fn truncated_update_closes_only_its_sender_with_1007() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("shared").await?;
    let mut bob = server.connect_synced("shared").await?;
    let mut mallory = server.connect_synced("shared").await?;

    // A sync Update announcing 10 bytes of update but carrying 1.
    mallory.send_binary(&[0, 2, 10, 1]).await?;
    let notice = mallory.wait_for_close().await?;
    assert_eq!(notice.code, 1007, "{notice:?}");
    assert!(!notice.reason.is_empty());

    assert_room_still_converges(&mut alice, &mut bob, "after truncated").await
}

/// Bytes that are no y-protocols message at all (`[0xff, 0xff]`) close their sender with 1007.
#[tokio::test]
async fn garbage_bytes_close_only_their_sender_with_1007() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("shared").await?;
    let mut bob = server.connect_synced("shared").await?;
    let mut mallory = server.connect_synced("shared").await?;

    mallory.send_binary(&[0xff, 0xff]).await?;
    let notice = mallory.wait_for_close().await?;
    assert_eq!(notice.code, 1007, "{notice:?}");
    assert!(!notice.reason.is_empty());

    assert_room_still_converges(&mut alice, &mut bob, "after garbage").await
}

/// A sync message whose payload is not a Yjs update closes its sender with 1007.
#[tokio::test]
async fn undecodable_update_payload_closes_only_its_sender_with_1007() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("shared").await?;
    let mut bob = server.connect_synced("shared").await?;
    let mut mallory = server.connect_synced("shared").await?;

    // A well-framed sync Update whose 4-byte payload is not an update.
    mallory
        .send_binary(&[0, 2, 4, 0xff, 0xff, 0xff, 0xff])
        .await?;
    let notice = mallory.wait_for_close().await?;
    assert_eq!(notice.code, 1007, "{notice:?}");
    assert!(!notice.reason.is_empty());

    assert_room_still_converges(&mut alice, &mut bob, "after bad payload").await
}

/// A text frame closes its sender with 1007; the others carry on.
#[tokio::test]
async fn text_frame_closes_only_its_sender_with_1007() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("shared").await?;
    let mut bob = server.connect_synced("shared").await?;
    let mut mallory = server.connect_synced("shared").await?;

    mallory.send_text_frame("hello?").await?;
    let notice = mallory.wait_for_close().await?;
    assert_eq!(notice.code, 1007, "{notice:?}");
    assert!(!notice.reason.is_empty());

    assert_room_still_converges(&mut alice, &mut bob, "after text").await
}

/// A message larger than `max_message_bytes` closes its sender with 1009; the others carry on.
#[tokio::test]
async fn oversized_message_closes_only_its_sender_with_1009() -> Result<()> {
    const LIMIT: usize = 64 * 1024;
    let server = TestServer::start_with(|config| config.max_message_bytes = LIMIT).await?;
    let mut alice = server.connect_synced("shared").await?;
    let mut bob = server.connect_synced("shared").await?;
    let mut sender = server.connect_synced("shared").await?;

    // Still fine just under the limit.
    sender.append_text(&"a".repeat(LIMIT / 2)).await?;
    alice
        .wait_until("the large edit", |client| client.text().len() == LIMIT / 2)
        .await?;

    sender.append_text(&"Z".repeat(2 * LIMIT)).await?;
    let notice = sender.wait_for_close().await?;
    assert_eq!(notice.code, 1009, "{notice:?}");
    assert!(!notice.reason.is_empty());

    assert_room_still_converges(&mut alice, &mut bob, "after oversized").await?;
    assert!(
        !alice.text().contains("ZZ"),
        "the oversized edit was applied"
    );
    Ok(())
}
