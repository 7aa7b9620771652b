//! Graceful shutdown: clients are told to go away, and the server stops within its grace period.

use std::time::{Duration, Instant};

use anyhow::Result;
use quire_tests::TestServer;

const GRACE_MILLIS: u64 = 2_000;

/// Shutdown closes every client with 1001, `run()` is Ok within the grace, then connects fail.
#[tokio::test]
async fn shutdown_closes_clients_with_1001_and_stops_within_grace() -> Result<()> {
    let mut server =
        TestServer::start_with(|config| config.shutdown_grace_millis = GRACE_MILLIS).await?;
    let mut alice = server.connect_synced("first room").await?;
    let mut bob = server.connect_synced("second room").await?;
    let mut carol = server.connect_synced("second room").await?;
    alice.insert_text(0, "before shutdown").await?;
    alice.wait_for_server_to_catch_up().await?;

    let cancelled_at = Instant::now();
    server.begin_shutdown();

    for client in [&mut alice, &mut bob, &mut carol] {
        let notice = client.wait_for_close().await?;
        assert_eq!(notice.code, 1001, "{notice:?}");
    }
    let result = server.stopped().await?;
    let took = cancelled_at.elapsed();
    assert!(result.is_ok(), "run() failed: {result:?}");
    assert!(
        took < Duration::from_millis(GRACE_MILLIS),
        "run() took {took:?}"
    );

    assert!(
        server.connect("first room").await.is_err(),
        "a connection was accepted after shutdown"
    );
    Ok(())
}

/// A client that never reads its socket does not hold shutdown up past the grace period.
#[tokio::test]
async fn shutdown_does_not_wait_for_a_client_that_never_reads() -> Result<()> {
    let mut server =
        TestServer::start_with(|config| config.shutdown_grace_millis = GRACE_MILLIS).await?;
    let mut reader = server.connect_synced("room").await?;
    let mut never_reads = server.connect("room").await?;
    never_reads.append_text("unread").await?;
    reader.wait_for_text("unread").await?;

    let cancelled_at = Instant::now();
    server.begin_shutdown();
    let result = server.stopped().await?;
    let took = cancelled_at.elapsed();
    assert!(result.is_ok(), "run() failed: {result:?}");
    assert!(
        took < Duration::from_millis(GRACE_MILLIS),
        "run() took {took:?}"
    );

    // Both were told why the connection ended, whenever they read.
    assert_eq!(reader.wait_for_close().await?.code, 1001);
    assert_eq!(never_reads.wait_for_close().await?.code, 1001);
    Ok(())
}
