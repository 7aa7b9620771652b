//! Slow consumers: a client that falls too far behind is closed with 4000, never left with a gap.

use std::time::{Duration, Instant};

use anyhow::Result;
use quire_tests::{TestClient, TestServer};
use server::Durability;

/// Frames a client may lag by before it is closed.
const QUEUE_FRAMES: usize = 8;
/// Size of each update the writer sends.
const CHUNK_BYTES: usize = 64 * 1024;
/// Updates sent while the reader is not reading: 8 MiB. The server's socket send buffer alone
/// can take 4 MiB (`tcp_wmem`'s maximum here) before a write to the stalled reader waits, and the
/// room delivers each update as soon as it is durable, so only more than that, plus the queue,
/// is sure to fill the queue; the rest is margin.
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

/// Floods the room from a new writer until the server has handled every update; returns the
/// writer. The first update goes alone, so the stalled reader's connection has taken it from
/// its queue before the rest piles up behind it.
async fn flood(server: &TestServer) -> Result<TestClient> {
    let mut writer = server.connect_synced("flood").await?;
    writer.append_text(&chunk(0)).await?;
    writer.wait_for_server_to_catch_up().await?;
    for number in 1..CHUNKS {
        writer.append_text(&chunk(number)).await?;
    }
    writer.wait_for_server_to_catch_up().await?;
    Ok(writer)
}

/// Connects a reader that syncs, answers everything the server sent, then stops reading while
/// the room is flooded.
async fn stall_reader_under_flood(server: &TestServer) -> Result<(TestClient, TestClient)> {
    let mut reader = server
        .connect_with_receive_buffer("flood", READER_RECEIVE_BUFFER)
        .await?;
    reader.wait_synced().await?;
    reader.wait_for_server_to_catch_up().await?;
    let writer = flood(server).await?;
    Ok((reader, writer))
}

/// A stalled reader gets a gap-free prefix then 4000; the writer and a fresh reader are fine.
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
    assert!(
        written.starts_with(&seen),
        "the reader's text is not a prefix"
    );
    assert!(
        seen.len() < written.len(),
        "the reader was closed with nothing missing"
    );
    assert_eq!(seen.len() % CHUNK_BYTES, 0);

    // The writer is still connected and still editing.
    writer.append_text("the end").await?;
    writer.wait_for_server_to_catch_up().await?;

    let fresh = server.connect_synced("flood").await?;
    assert_eq!(fresh.text().len(), CHUNKS * CHUNK_BYTES + "the end".len());
    assert_eq!(fresh.text(), writer.text());
    Ok(())
}

/// A reader closed with 4000 that reconnects, as y-websocket does, resyncs the whole document.
#[tokio::test]
async fn reader_closed_for_falling_behind_resyncs_on_reconnect() -> Result<()> {
    let server = start_server().await?;
    let (mut reader, writer) = stall_reader_under_flood(&server).await?;
    assert_eq!(reader.wait_for_close().await?.code, 4000);

    let again = server.connect_synced("flood").await?;
    assert_eq!(again.text(), writer.text());
    Ok(())
}

/// A stalled reader that answers the server's SyncStep1 on resuming still gets its 4000 close.
#[tokio::test]
async fn stalled_reader_that_answers_on_resuming_still_sees_its_4000_close() -> Result<()> {
    let server = start_server().await?;
    let mut reader = server
        .connect_with_receive_buffer("flood", READER_RECEIVE_BUFFER)
        .await?;
    // Synced, but the server's own SyncStep1 (sent right after SyncStep2) is still unread: the
    // reader answers it when it reads again, after the server gave up on it.
    reader.wait_synced().await?;
    let writer = flood(&server).await?;

    let notice = reader.wait_for_close().await?;
    assert_eq!(notice.code, 4000, "{notice:?}");
    assert!(writer.text().starts_with(&reader.text()));
    Ok(())
}

/// A connection wedged writing to a non-reading client holds shutdown no longer than the grace.
#[tokio::test]
async fn shutdown_is_bounded_by_grace_despite_a_wedged_reader() -> Result<()> {
    const GRACE: Duration = Duration::from_millis(300);
    let mut server = TestServer::start_with(|config| {
        config.client_queue_frames = QUEUE_FRAMES;
        config.durability = Durability::Relaxed;
        config.shutdown_grace_millis = GRACE.as_millis() as u64;
    })
    .await?;
    let mut reader = server
        .connect_with_receive_buffer("wedged", READER_RECEIVE_BUFFER)
        .await?;
    reader.wait_synced().await?;
    reader.wait_for_server_to_catch_up().await?;
    // One megabyte frames: the first one alone is more than the server's socket can take while
    // the reader does not read, so its connection task stays blocked in a write.
    let mut writer = server.connect_synced("wedged").await?;
    for number in 0..2 {
        writer.append_text(&chunk(number).repeat(16)).await?;
    }
    writer.wait_for_server_to_catch_up().await?;

    let cancelled_at = Instant::now();
    server.begin_shutdown();
    assert_eq!(writer.wait_for_close().await?.code, 1001);
    let result = server.stopped().await?;
    let took = cancelled_at.elapsed();
    assert!(result.is_ok(), "{result:?}");
    assert!(took < GRACE + Duration::from_secs(2), "run() took {took:?}");

    // The server gave up on the reader mid-write, so no close frame may have got through; if
    // the kernel took the whole write after all, the close frame followed it.
    let end = reader.wait_for_end().await?;
    assert!(
        end.as_ref().is_none_or(|notice| notice.code == 1001),
        "{end:?}"
    );
    assert!(writer.text().starts_with(&reader.text()));
    Ok(())
}
