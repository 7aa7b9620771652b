//! Slow consumers: a client that falls too far behind is closed with 4000, never left with a gap.

use anyhow::Result;
use quire_tests::{TestClient, TestServer};
use server::Durability;

/// Frames a client may lag by before it is closed.
const QUEUE_FRAMES: usize = 8;
/// Size of each update the writer sends.
const CHUNK_BYTES: usize = 64 * 1024;
/// Updates sent while the reader is not reading: 8 MiB, far more than the reader's small socket
/// buffer, the server's send buffer and the queue hold together.
const CHUNKS: usize = 128;
/// The stalled reader's kernel receive buffer.
const READER_RECEIVE_BUFFER: u32 = 4 * 1024;

/// Chunk `number` of the writer's text: one letter repeated, so a missing chunk shows.
fn chunk(number: usize) -> String {
    let letter = char::from(b'a' + (number % 26) as u8);
    letter.to_string().repeat(CHUNK_BYTES)
}

async fn start_server() -> Result<TestServer> {
    TestServer::start_with(|config| {
        config.client_queue_frames = QUEUE_FRAMES;
        // The point is the fan-out, not the disk: keep the test fast.
        config.durability = Durability::Relaxed;
    })
    .await
}

/// Connects a reader that is synced and then stops reading, and floods the room from a writer
/// until the server has handled every update.
async fn stall_reader_under_flood(server: &TestServer) -> Result<(TestClient, TestClient)> {
    let mut reader = server
        .connect_with_receive_buffer("flood", READER_RECEIVE_BUFFER)
        .await?;
    reader.wait_synced().await?;
    let mut writer = server.connect_synced("flood").await?;
    for number in 0..CHUNKS {
        writer.append_text(&chunk(number)).await?;
    }
    writer.wait_for_server_to_catch_up().await?;
    Ok((reader, writer))
}

/// A reader that stops reading under a flood of updates sees, once it reads again, the frames
/// that were queued and then close 4000 (no silent gap); the writer carries on and a fresh
/// reader gets the whole document.
#[tokio::test]
async fn stalled_reader_is_closed_with_4000_and_the_room_carries_on() -> Result<()> {
    let server = start_server().await?;
    let (mut reader, mut writer) = stall_reader_under_flood(&server).await?;
    let frames_before = reader.received_frames().len();

    let notice = reader.wait_for_close().await?;
    assert_eq!(notice.code, 4000, "{notice:?}");
    assert!(!notice.reason.is_empty());
    let frames_after = reader.received_frames().len() - frames_before;
    assert!(
        frames_after > 0,
        "the reader got no frames before the close"
    );

    // What the reader got is a gap-free prefix of the document, not the whole of it.
    let written = writer.text();
    let seen = reader.text();
    assert!(!reader.has_missing_updates(), "the reader has a gap");
    assert!(written.starts_with(&seen), "the reader's text is not a prefix");
    assert!(seen.len() < written.len(), "the reader was closed with nothing missing");
    assert_eq!(seen.len() % CHUNK_BYTES, 0);

    // The writer is still connected and still editing.
    writer.append_text("the end").await?;
    writer.wait_for_server_to_catch_up().await?;

    let fresh = server.connect_synced("flood").await?;
    assert_eq!(fresh.text().len(), CHUNKS * CHUNK_BYTES + "the end".len());
    assert_eq!(fresh.text(), writer.text());
    Ok(())
}

/// A reader that falls behind and reconnects, as y-websocket does after 4000, resyncs to the
/// whole document.
#[tokio::test]
async fn reader_closed_for_falling_behind_resyncs_on_reconnect() -> Result<()> {
    let server = start_server().await?;
    let (mut reader, writer) = stall_reader_under_flood(&server).await?;
    assert_eq!(reader.wait_for_close().await?.code, 4000);

    let again = server.connect_synced("flood").await?;
    assert_eq!(again.text(), writer.text());
    Ok(())
}

/// Shutdown completes within its grace period even while a stalled reader's socket is full.
#[tokio::test]
async fn shutdown_is_not_held_up_by_a_stalled_reader() -> Result<()> {
    const GRACE_MILLIS: u64 = 1_000;
    let mut server = TestServer::start_with(|config| {
        config.client_queue_frames = QUEUE_FRAMES;
        config.durability = Durability::Relaxed;
        config.shutdown_grace_millis = GRACE_MILLIS;
    })
    .await?;
    let (_reader, mut writer) = stall_reader_under_flood(&server).await?;

    let cancelled_at = std::time::Instant::now();
    server.begin_shutdown();
    assert_eq!(writer.wait_for_close().await?.code, 1001);
    let result = server.stopped().await?;
    let took = cancelled_at.elapsed();
    assert!(result.is_ok(), "{result:?}");
    assert!(
        took < std::time::Duration::from_millis(GRACE_MILLIS),
        "run() took {took:?}"
    );
    Ok(())
}
