//! A client that stops reading while the server writes to it is let go: its connection, task
//! and buffers are released after the send timeout instead of waiting on it for ever.
//!
//! In a file of its own because it reads the process-wide `quire_connections_open` gauge, which
//! tests running beside it in one binary would move.

use anyhow::{Context, Result, bail};
use quire_tests::{TestServer, WAIT_LIMIT};
use server::Durability;
use tokio::time::Instant;

/// Size of each update the writer sends: far more than a stalled socket takes.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Updates the writer sends while the reader does not read.
const CHUNKS: usize = 8;

/// Open y-websocket connections as `/metrics` counts them.
async fn open_connections(server: &TestServer) -> Result<f64> {
    let metrics = server.get("/metrics").await?;
    let value = metrics
        .lines()
        .find_map(|line| line.strip_prefix("quire_connections_open{protocol=\"y-websocket\"} "))
        .context("open connections are counted")?;
    Ok(value.trim().parse()?)
}

/// A reader that stops reading mid-write is dropped after the send timeout and its connection
/// released, though it keeps its socket open and never reads again.
#[tokio::test]
async fn a_client_that_stops_reading_is_released_after_the_send_timeout() -> Result<()> {
    let server = TestServer::start_with(|config| {
        config.durability = Durability::Relaxed;
        config.send_timeout_seconds = 1;
    })
    .await?;
    let mut reader = server
        .connect_with_receive_buffer("wedged", 4 * 1024)
        .await?;
    reader.wait_synced().await?;
    reader.wait_for_server_to_catch_up().await?;

    let mut writer = server.connect_synced("wedged").await?;
    for number in 0..CHUNKS {
        let letter = char::from(b'a' + number as u8);
        writer
            .append_text(&letter.to_string().repeat(CHUNK_BYTES))
            .await?;
    }
    writer.wait_for_server_to_catch_up().await?;
    drop(writer);

    // Nothing to await but the server's own count: the reader must not read, or it would
    // unblock the very write the server is to give up on.
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let open = open_connections(&server).await?;
        if open == 0.0 {
            break;
        }
        if Instant::now() >= deadline {
            bail!("{open} connections still open after {WAIT_LIMIT:?}");
        }
        tokio::task::yield_now().await;
    }
    drop(reader);
    Ok(())
}
