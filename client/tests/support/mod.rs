//! Shared by the client's integration tests: addresses of an in-process Quire server, a quick
//! reconnect policy, and waits on a client's published status.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Result, bail};
use quire_client::{Client, ConnectionState, Endpoint, ReconnectPolicy, Status};
use quire_tests::{TestServer, WAIT_LIMIT};
use yrs::{GetString, Text, Transact};

/// The address of `document` on `server`.
pub fn endpoint(server: &TestServer, document: &str, token: Option<&str>) -> Endpoint {
    Endpoint::new(&format!("http://{}", server.address()), document, token)
        .expect("a valid endpoint")
}

/// Reconnects quickly, so tests of restarts do not wait seconds.
pub fn quick_policy() -> ReconnectPolicy {
    ReconnectPolicy {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_failed_attempts: None,
    }
}

/// The client's text now.
pub fn text(client: &Client) -> String {
    client.text().get_string(&client.doc().transact())
}

/// Inserts `chunk` at `index` of the client's text (sent by the client's observer).
pub fn insert(client: &Client, index: u32, chunk: &str) {
    client
        .text()
        .insert(&mut client.doc().transact_mut(), index, chunk);
}

/// Waits, re-checking on every status change, until `holds` is true of `client`.
pub async fn wait_until(
    client: &Client,
    what: &str,
    mut holds: impl FnMut(&Client, &Status) -> bool,
) -> Result<()> {
    let mut status = client.watch_status();
    let waiting = async {
        loop {
            let now = status.borrow_and_update().clone();
            if holds(client, &now) {
                return Ok(());
            }
            if status.changed().await.is_err() {
                bail!("the client is gone while waiting for {what}");
            }
        }
    };
    match tokio::time::timeout(WAIT_LIMIT, waiting).await {
        Ok(result) => result,
        Err(_) => bail!(
            "waited {WAIT_LIMIT:?} for {what}; text is {:?}, status {:?}",
            text(client),
            client.status()
        ),
    }
}

/// Waits until the client's text is `expected`.
pub async fn wait_for_text(client: &Client, expected: &str) -> Result<()> {
    wait_until(client, &format!("text {expected:?}"), |client, _| {
        text(client) == expected
    })
    .await
}

/// Waits until the client noticed its connection is gone.
pub async fn wait_disconnected(client: &Client) -> Result<()> {
    wait_until(client, "a disconnect", |_, status| {
        matches!(status.connection, ConnectionState::Waiting { .. })
    })
    .await
}

/// Re-reads `path` until it holds `expected`; files have no change events to await here.
pub async fn wait_for_file(path: &std::path::Path, expected: &str) -> Result<()> {
    let polling = async {
        loop {
            if std::fs::read_to_string(path).ok().as_deref() == Some(expected) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(WAIT_LIMIT, polling).await.is_err() {
        bail!(
            "waited {WAIT_LIMIT:?} for {} to read {expected:?}; it reads {:?}",
            path.display(),
            std::fs::read_to_string(path).ok()
        );
    }
    Ok(())
}
