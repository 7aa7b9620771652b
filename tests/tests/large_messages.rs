//! Messages larger than one WebSocket fragment: the server sends them as a fragmented message
//! (see server::websocket::send), and a client must still receive each one whole.

use anyhow::Result;
use quire_tests::TestServer;
use server::websocket::send::FRAGMENT_BYTES;

/// About 1 MB of text that no fragment boundary could cut into something still equal.
fn large_text() -> String {
    (0..80_000)
        .map(|line| format!("line {line:06}\n"))
        .collect()
}

/// A 1 MB document, many fragments long, reaches a joining client intact in its first sync.
#[tokio::test]
async fn a_document_many_fragments_long_reaches_a_joiner_intact() -> Result<()> {
    let text = large_text();
    assert!(
        text.len() > 32 * FRAGMENT_BYTES,
        "the document spans many fragments"
    );
    let server = TestServer::start().await?;
    let mut writer = server.connect_synced("large").await?;
    writer.append_text(&text).await?;
    writer.wait_for_server_to_catch_up().await?;

    let reader = server.connect_synced("large").await?;
    assert_eq!(reader.text().len(), text.len());
    assert!(reader.text() == text, "the joiner's text differs");
    Ok(())
}

/// A 1 MB live update is broadcast whole to a client already in the room, and the connection
/// carries small messages after it as before.
#[tokio::test]
async fn a_large_update_is_broadcast_whole_and_the_connection_carries_on() -> Result<()> {
    let text = large_text();
    let server = TestServer::start().await?;
    let mut writer = server.connect_synced("broadcast").await?;
    let mut reader = server.connect_synced("broadcast").await?;
    writer.append_text(&text).await?;
    reader.wait_for_text(&text).await?;
    writer.append_text("and a small one").await?;
    let expected = format!("{text}and a small one");
    reader.wait_for_text(&expected).await?;
    Ok(())
}
