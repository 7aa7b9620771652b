//! Hostile bytes (issue #22): lengths that claim more than they carry, and awareness states that
//! are not JSON, are refused before anything is allocated or relayed, and cost nobody else.
//!
//! The server runs in this test's process, so its resident memory is the process's: a decoder
//! that believed the 10-byte frame below would grow it by gigabytes before failing.

use std::sync::Arc;

use anyhow::{Context, Result};
use crdt_core::wire::encode_frame;
use quire_tests::{TestClient, TestServer};
use yrs::block::ClientID;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{AwarenessUpdate, Message};

/// A SyncStep1 whose 7-byte state vector claims about 4.4 x 10^11 entries.
const HALF_A_TRILLION_ENTRIES: [u8; 10] =
    [0x00, 0x00, 0x07, 0xdb, 0xb9, 0x9a, 0xff, 0x8a, 0x0d, 0x0d];

/// The same 7 bytes, base64url: the `since` of a snapshot request.
const HALF_A_TRILLION_SINCE: &str = "27ma_4oNDQ";

/// Growth of this process's resident memory that no refused message may cause.
const FLAT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;

fn resident_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kilobytes: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .context("VmRSS in /proc/self/status")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kilobytes * 1024)
}

fn assert_memory_flat(before: u64) -> Result<()> {
    let after = resident_bytes()?;
    assert!(
        after < before + FLAT_MEMORY_BYTES,
        "resident memory grew from {before} to {after} bytes"
    );
    Ok(())
}

/// An awareness message announcing `json` as the state of `client`.
fn awareness_frame(client: u64, json: &str) -> Vec<u8> {
    let update = AwarenessUpdate {
        clients: [(
            ClientID::new(client),
            AwarenessUpdateEntry {
                clock: 1,
                json: Arc::from(json),
            },
        )]
        .into_iter()
        .collect(),
    };
    encode_frame(&Message::Awareness(update)).to_vec()
}

/// Each healthy client edits; both see both edits and agree.
async fn assert_still_converging(
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

/// The issue's 10-byte SyncStep1 closes its sender with 1007, memory stays flat, and the room's
/// other clients go on editing.
#[tokio::test]
async fn the_ten_byte_frame_closes_its_sender_with_1007_and_costs_no_memory() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("doc").await?;
    let mut bob = server.connect_synced("doc").await?;
    let mut mallory = server.connect_synced("doc").await?;
    let before = resident_bytes()?;

    mallory.send_binary(&HALF_A_TRILLION_ENTRIES).await?;
    let notice = mallory.wait_for_close().await?;
    assert_eq!(notice.code, 1007, "{notice:?}");
    assert!(notice.reason.contains("state vector"), "{notice:?}");

    assert_memory_flat(before)?;
    assert_still_converging(&mut alice, &mut bob, "after the frame").await
}

/// The same bytes over HTTP, as `since` and as an update body, get a 400 with a JSON error and
/// leave memory flat.
#[tokio::test]
async fn the_same_bytes_over_http_get_400_and_cost_no_memory() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("doc").await?;
    alice.append_text("kept").await?;
    let before = resident_bytes()?;

    let (status, body) = server
        .request(
            "GET",
            &format!("/api/docs/doc/snapshot?since={HALF_A_TRILLION_SINCE}"),
            None,
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(error["code"], "invalid_state_vector", "{body}");

    let (status, body) = server
        .request(
            "POST",
            "/api/docs/doc/update",
            Some(&HALF_A_TRILLION_ENTRIES[3..]),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(error["code"], "malformed_update", "{body}");

    assert_memory_flat(before)?;
    let snapshot = server.get("/api/docs/doc/snapshot?format=text").await?;
    assert!(snapshot.contains("kept"), "{snapshot}");
    Ok(())
}

/// An awareness state that is not JSON closes its sender with 1007 and never reaches anyone.
#[tokio::test]
async fn an_awareness_state_that_is_not_json_is_never_relayed() -> Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.connect_synced("doc").await?;
    let mut bob = server.connect_synced("doc").await?;
    let mut mallory = server.connect_synced("doc").await?;
    let poisoned: u64 = 4_242;

    mallory
        .send_binary(&awareness_frame(poisoned, r#"{"user":"#))
        .await?;
    let notice = mallory.wait_for_close().await?;
    assert_eq!(notice.code, 1007, "{notice:?}");

    // Alice's own announcement follows; once Bob has it, anything relayed before it has arrived
    // too. Bob's client refuses frames with invalid JSON, so a relay would fail this wait.
    alice.set_awareness(r#"{"user":{"name":"alice"}}"#).await?;
    let alice_id = alice.awareness_id();
    bob.wait_until("alice's state", |client| {
        client.awareness_state(alice_id).is_some()
    })
    .await?;
    assert_eq!(bob.awareness_state(ClientID::new(poisoned)), None);
    assert_still_converging(&mut alice, &mut bob, "after the poisoned state").await
}

/// An awareness state over `--max-awareness-bytes` closes its sender with 1009 and is neither
/// kept nor relayed: a joiner after it does not see it either.
#[tokio::test]
async fn an_oversized_awareness_state_closes_with_1009_and_is_not_kept() -> Result<()> {
    let server = TestServer::start_with(|config| config.max_awareness_bytes = 1024).await?;
    let mut alice = server.connect_synced("doc").await?;
    let mut mallory = server.connect_synced("doc").await?;
    let large: u64 = 777;
    let state = format!(r#"{{"user":{{"name":"{}"}}}}"#, "m".repeat(2_000));

    mallory.send_binary(&awareness_frame(large, &state)).await?;
    let notice = mallory.wait_for_close().await?;
    assert_eq!(notice.code, 1009, "{notice:?}");
    assert!(notice.reason.contains("awareness"), "{notice:?}");

    alice.set_awareness(r#"{"user":{"name":"alice"}}"#).await?;
    let mut carol = server.connect_synced("doc").await?;
    let alice_id = alice.awareness_id();
    carol
        .wait_until("alice's state", |client| {
            client.awareness_state(alice_id).is_some()
        })
        .await?;
    assert_eq!(carol.awareness_state(ClientID::new(large)), None);
    alice.wait_for_server_to_catch_up().await?;
    assert_eq!(alice.awareness_state(ClientID::new(large)), None);
    Ok(())
}
