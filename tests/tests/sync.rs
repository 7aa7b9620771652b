//! Document sync over real sockets: convergence, late joiners, and the framing y-websocket needs.

use anyhow::Result;
use crdt_core::wire::decode_frame;
use quire_tests::TestServer;

/// Two clients editing the same text at the same time end with identical text holding both edits.
#[tokio::test]
async fn concurrent_text_edits_converge() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("notes").await?;
    let mut bob = server.connect_synced("notes").await?;

    // Both edit position 0 before either has seen the other's edit.
    alice.insert_text(0, "hello from alice").await?;
    bob.insert_text(0, "hello from bob").await?;

    let has_both =
        |text: &str| text.contains("hello from alice") && text.contains("hello from bob");
    alice
        .wait_until("both edits", |client| has_both(&client.text()))
        .await?;
    bob.wait_until("both edits", |client| has_both(&client.text()))
        .await?;
    assert_eq!(alice.text(), bob.text());
    assert_eq!(
        alice.text().len(),
        "hello from alice".len() + "hello from bob".len()
    );
    Ok(())
}

/// Many interleaved edits from three clients converge to one text with every edit in it.
#[tokio::test]
async fn interleaved_edits_from_three_clients_converge() -> Result<()> {
    let server = TestServer::start().await?;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(server.connect_synced("busy").await?);
    }
    for round in 0..20 {
        for (number, client) in clients.iter_mut().enumerate() {
            client.append_text(&format!("[{number}:{round}]")).await?;
        }
    }
    let expected_length: usize = (0..20)
        .flat_map(|round| (0..3).map(move |number| format!("[{number}:{round}]").len()))
        .sum();
    for client in &mut clients {
        client
            .wait_until("all 60 edits", |client| {
                client.text().len() == expected_length
            })
            .await?;
    }
    let text = clients[0].text();
    for client in &clients {
        assert_eq!(client.text(), text);
    }
    for round in 0..20 {
        for number in 0..3 {
            assert!(text.contains(&format!("[{number}:{round}]")));
        }
    }
    Ok(())
}

/// A client joining after edits were made has the whole text and map once its first sync is done.
#[tokio::test]
async fn late_joiner_receives_the_full_state_in_its_first_sync() -> Result<()> {
    let server = TestServer::start().await?;
    let mut author = server.connect_synced("report").await?;
    author.insert_text(0, "Quarterly report").await?;
    author.append_text(": all green").await?;
    author.set_map_entry("title", "Q3").await?;
    author.set_map_entry("status", "final").await?;
    author.wait_for_server_to_catch_up().await?;

    let mut late = server.connect("report").await?;
    late.wait_synced().await?;

    assert_eq!(late.text(), "Quarterly report: all green");
    assert_eq!(late.map_entry("title").as_deref(), Some("Q3"));
    assert_eq!(late.map_entry("status").as_deref(), Some("final"));
    Ok(())
}

/// A late joiner also gets the state when everyone who wrote it has left (it was stored).
#[tokio::test]
async fn late_joiner_receives_the_state_after_the_room_emptied() -> Result<()> {
    let server = TestServer::start().await?;
    let mut author = server.connect_synced("archive").await?;
    author.insert_text(0, "kept").await?;
    author.set_map_entry("owner", "ops").await?;
    author.wait_for_server_to_catch_up().await?;
    author.close().await?;

    let late = server.connect_synced("archive").await?;
    assert_eq!(late.text(), "kept");
    assert_eq!(late.map_entry("owner").as_deref(), Some("ops"));
    Ok(())
}

/// Every server frame holds exactly one message (y-websocket reads only the first one).
#[tokio::test]
async fn every_server_frame_holds_exactly_one_message() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("framing").await?;
    let mut bob = server.connect_synced("framing").await?;
    alice.set_awareness(r#"{"user":"alice"}"#).await?;
    bob.set_awareness(r#"{"user":"bob"}"#).await?;
    alice.insert_text(0, "one").await?;
    bob.insert_text(0, "two").await?;
    alice.set_map_entry("k", "v").await?;

    let (alice_id, bob_id) = (alice.awareness_id(), bob.awareness_id());
    let sees_everything = |client: &quire_tests::TestClient| {
        client.text().len() == 6
            && client.map_entry("k").is_some()
            && client.awareness_state(alice_id).is_some()
            && client.awareness_state(bob_id).is_some()
    };
    alice.wait_until("everything", sees_everything).await?;
    bob.wait_until("everything", sees_everything).await?;

    // A late joiner gets the awareness of both and the document: several messages, each framed.
    let mut carol = server.connect_synced("framing").await?;
    carol.wait_until("everything", sees_everything).await?;
    let bob_frames = bob.received_frames().to_vec();
    bob.close().await?;
    alice
        .wait_until("bob's removal", |client| {
            client.awareness_state(bob_id).is_none()
        })
        .await?;

    for frame in &bob_frames {
        assert_eq!(decode_frame(frame)?.len(), 1, "bob got {frame:?}");
    }
    for (name, client) in [("alice", &alice), ("carol", &carol)] {
        assert!(!client.received_frames().is_empty());
        for frame in client.received_frames() {
            let messages = decode_frame(frame)?;
            assert_eq!(messages.len(), 1, "{name} got {messages:?} in one frame");
        }
    }
    Ok(())
}
