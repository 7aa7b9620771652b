//! Keepalive: silent connections are closed with 4008, live ones stay open.

use anyhow::Result;
use quire_tests::TestServer;

const PING_INTERVAL_MILLIS: u64 = 100;

/// A client that never reads (never answers pings) gets 4008; one that reads stays past 5 pings.
#[tokio::test]
async fn silent_client_is_closed_with_4008_while_a_reading_client_stays() -> Result<()> {
    let server =
        TestServer::start_with(|config| config.ping_interval_millis = PING_INTERVAL_MILLIS).await?;
    let mut silent = server.connect("heartbeat").await?;
    let mut reader = server.connect_synced("heartbeat").await?;

    // Six pings: the reader has been connected for more than five intervals, well past the two
    // intervals of silence that end a connection.
    reader.wait_for_pings(6).await?;
    reader.append_text("still here").await?;
    reader.wait_for_server_to_catch_up().await?;

    // The silent client reads only now: what the server sent, then its close.
    let notice = silent.wait_for_close().await?;
    assert_eq!(notice.code, 4008, "{notice:?}");
    assert!(!notice.reason.is_empty());
    // It was sent pings it never answered before being given up on.
    assert!(silent.pings_received() >= 1);

    // The reader is still in the room and still hears the server.
    let pings_so_far = reader.pings_received();
    reader.wait_for_pings(pings_so_far + 1).await?;
    let late = server.connect_synced("heartbeat").await?;
    assert_eq!(late.text(), "still here");
    Ok(())
}

/// A client that sends edits but never reads stays connected: any frame counts as a sign of life.
#[tokio::test]
async fn client_that_sends_frames_counts_as_alive() -> Result<()> {
    let server =
        TestServer::start_with(|config| config.ping_interval_millis = PING_INTERVAL_MILLIS).await?;
    let mut writer = server.connect_synced("heartbeat").await?;
    let mut watcher = server.connect_synced("heartbeat").await?;

    // The writer sends an edit whenever the watcher sees a ping, never reading its own socket.
    for round in 0..6 {
        watcher.wait_for_pings(round + 1).await?;
        writer.append_text(&format!("{round}")).await?;
    }
    watcher.wait_for_text("012345").await?;
    // Reading now, the writer finds its connection open (a close would fail this wait).
    writer.wait_for_server_to_catch_up().await?;
    assert_eq!(writer.text(), "012345");
    Ok(())
}
