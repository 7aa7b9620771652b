//! quire-client against a real in-process Quire server: convergence, reconnects, refusals.

mod support;

use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::FutureExt;
use quire_client::{Client, ClientError, ConnectionState, ReconnectPolicy};
use quire_tests::{TestServer, WAIT_LIMIT};
use server::auth::{AccessLevel, Authenticator};
use support::{endpoint, insert, quick_policy, text, wait_disconnected, wait_for_text, wait_until};

const SECRET: &str = "a test secret of enough length";

/// Two clients editing one document at once end with the same text holding both edits.
#[tokio::test]
async fn two_clients_converge() -> Result<()> {
    let server = TestServer::start().await?;
    let mut first = Client::connect(endpoint(&server, "shared", None), quick_policy());
    let mut second = Client::connect(endpoint(&server, "shared", None), quick_policy());
    first.wait_synced().await?;
    second.wait_synced().await?;
    insert(&first, 0, "alpha ");
    insert(&second, 0, "beta ");
    for client in [&first, &second] {
        wait_until(client, "both edits", |client, _| {
            let text = text(client);
            text.contains("alpha ") && text.contains("beta ")
        })
        .await?;
    }
    assert_eq!(text(&first), text(&second));
    first.shutdown().await?;
    second.shutdown().await?;
    Ok(())
}

/// A client outlives a server restart: it reconnects on its own, and what was typed while the
/// server was down reaches the document.
#[tokio::test]
async fn reconnects_after_a_restart_and_carries_over_offline_edits() -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = TestServer::start_in(data.path(), |_| {}).await?;
    let address = server.address();
    let mut client = Client::connect(endpoint(&server, "notes", None), quick_policy());
    client.wait_synced().await?;
    insert(&client, 0, "online");
    client.wait_stored().await?;

    server.stop().await?;
    wait_disconnected(&client).await?;
    insert(&client, 6, " offline");

    let server = TestServer::start_in(data.path(), |config| config.addr = address).await?;
    client.wait_synced().await?;
    client.wait_stored().await?;
    let mut reader = server.connect_synced("notes").await?;
    reader.wait_for_text("online offline").await?;

    // And the other way: an edit made at the server while the client was away arrives too.
    reader.append_text("!").await?;
    wait_for_text(&client, "online offline!").await?;
    client.shutdown().await?;
    Ok(())
}

/// A token the server refuses ends the client with the refusal instead of retrying forever.
#[tokio::test]
async fn a_refused_token_stops_the_client_with_the_refusal() -> Result<()> {
    let server = TestServer::start_with(|config| config.auth_secret = Some(SECRET.into())).await?;
    let other_document =
        Authenticator::new(SECRET).issue("other", AccessLevel::Write, Duration::from_secs(60))?;
    let cases = [
        (None, 401),
        (Some("not a token"), 401),
        (Some(other_document.as_str()), 403),
    ];
    for (token, expected) in cases {
        let mut client = Client::connect(
            endpoint(&server, "notes", token),
            ReconnectPolicy::default(),
        );
        let refused = tokio::time::timeout(WAIT_LIMIT, client.wait_synced())
            .await
            .context("the client kept retrying")?;
        match refused {
            Err(ClientError::Refused { status, body }) => {
                assert_eq!(status, expected, "{body}");
                assert!(
                    body.contains("unauthorized") || body.contains("forbidden"),
                    "{body}"
                );
            }
            other => panic!("expected a refusal for {token:?}, got {other:?}"),
        }
        assert_eq!(client.status().connection, ConnectionState::Stopped);
    }

    let token =
        Authenticator::new(SECRET).issue("notes", AccessLevel::Write, Duration::from_secs(60))?;
    let mut client = Client::connect(endpoint(&server, "notes", Some(&token)), quick_policy());
    client.wait_synced().await?;
    client.shutdown().await?;
    Ok(())
}

/// A wait for the client to stop that is dropped before the client stops (a `select!` or a
/// timeout racing it) does not swallow the refusal: shutting down afterwards still reports it.
#[tokio::test]
async fn a_dropped_wait_for_the_stop_keeps_the_refusal_for_shutdown() -> Result<()> {
    let server = TestServer::start_with(|config| config.auth_secret = Some(SECRET.into())).await?;
    let mut client = Client::connect(endpoint(&server, "notes", None), ReconnectPolicy::default());
    // Polled once and dropped: on this single-threaded runtime the client's task has not even
    // started yet, so the wait is cut short as a losing `select!` branch would be.
    assert!(
        client.stopped().now_or_never().is_none(),
        "the client stopped before it ran"
    );
    wait_until(&client, "the refusal", |_, status| {
        status.connection == ConnectionState::Stopped
    })
    .await?;
    let closed = tokio::time::timeout(WAIT_LIMIT, client.shutdown())
        .await
        .context("shutting down hung")?;
    assert!(
        matches!(closed, Err(ClientError::Refused { status: 401, .. })),
        "{closed:?}"
    );
    Ok(())
}

/// Editing over a read-only token stops the client with the server's refusal.
#[tokio::test]
async fn edits_over_a_read_only_token_stop_the_client() -> Result<()> {
    let server = TestServer::start_with(|config| config.auth_secret = Some(SECRET.into())).await?;
    let token =
        Authenticator::new(SECRET).issue("notes", AccessLevel::Read, Duration::from_secs(60))?;
    let mut client = Client::connect(endpoint(&server, "notes", Some(&token)), quick_policy());
    client.wait_synced().await?;
    insert(&client, 0, "refused");
    let stopped = tokio::time::timeout(WAIT_LIMIT, client.stopped())
        .await
        .context("the client kept going")?;
    assert!(
        matches!(stopped, Err(ClientError::PermissionDenied(ref reason)) if reason.contains("read-only")),
        "{stopped:?}"
    );
    // Nothing was stored: a writer finds the document empty.
    let writer_token =
        Authenticator::new(SECRET).issue("notes", AccessLevel::Write, Duration::from_secs(60))?;
    let mut writer = Client::connect(
        endpoint(&server, "notes", Some(&writer_token)),
        quick_policy(),
    );
    writer.wait_synced().await?;
    assert_eq!(text(&writer), "");
    writer.shutdown().await?;
    Ok(())
}
