//! A reader that tells which writer update each frame is, without a CRDT.
//!
//! Hot-room readers only need to know that update `k` arrived, when, and whether one is missing:
//! the writer's updates each insert one character, so the clock of the update's first struct is
//! its sequence number ([`crate::update_id`]), and an update whose length equals what was sent is
//! that update unchanged. Anything else from the writer is decoded fully to learn the clocks it
//! covers. Each reader expects the sequence numbers in order (servers relay a room's updates in
//! order); a gap or a repeat is a problem the report shows.

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::connection::{SyncedClient, describe_end, send_now};
use crate::protocol::Incoming;
use crate::traffic::ledger::{Delivery, SharedLatency, SharedLedger};
use crate::update_id::{clock_range, first_struct};

/// Problems one reader reports at most; the first ones tell the story.
const MAX_PROBLEMS: usize = 3;

/// How a reader's run went.
#[derive(Debug, Default)]
pub struct ReaderOutcome {
    /// Writer updates received (each counted once).
    pub received: u64,
    /// Why the connection ended before the run did, if it did.
    pub ended_early: Option<String>,
    /// Out-of-order, repeated or unreadable updates.
    pub problems: Vec<String>,
}

/// Reads `client`'s frames until `stop`, recording each writer update in `ledger` and its
/// latency in `latency`.
pub async fn read_updates(
    client: SyncedClient,
    ledger: SharedLedger,
    latency: SharedLatency,
    stop: CancellationToken,
) -> ReaderOutcome {
    let SyncedClient {
        framing,
        mut sink,
        mut stream,
        ..
    } = client;
    let writer_client = ledger.lock().expect("ledger lock").writer_client();
    let mut outcome = ReaderOutcome::default();
    let mut expected: u64 = 0;
    loop {
        let message = tokio::select! {
            biased;
            message = stream.next() => message,
            () = stop.cancelled() => break,
        };
        let frame = match message {
            Some(Ok(Message::Binary(frame))) => frame,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                outcome.ended_early = Some(describe_end(message));
                break;
            }
            Some(Ok(_)) => continue,
        };
        let received_at = Instant::now();
        let update = match framing.read(&frame) {
            Ok(Incoming::Update(update)) => update,
            Ok(Incoming::SyncStep1(_)) => {
                // A server may ask again (y-websocket resyncs periodically); this reader holds
                // nothing of its own.
                if let Err(error) = send_now(&mut sink, framing.empty_sync_step2()).await {
                    outcome.ended_early = Some(format!("socket error: {error}"));
                    break;
                }
                continue;
            }
            Ok(_) => continue,
            Err(error) => {
                if outcome.problems.len() < MAX_PROBLEMS {
                    outcome.problems.push(error.to_string());
                }
                continue;
            }
        };
        let Some(first) = first_struct(update) else {
            continue;
        };
        if first.client != writer_client {
            continue;
        }
        let mut ledger = ledger.lock().expect("ledger lock");
        let sequences = if first.alone && ledger.sent_length(first.clock) == Some(update.len()) {
            first.clock..first.clock + 1
        } else {
            match clock_range(update, writer_client) {
                Some(range) => range,
                None => {
                    outcome
                        .problems
                        .push("an update of the writer does not decode".to_owned());
                    continue;
                }
            }
        };
        if sequences.start != expected && outcome.problems.len() < MAX_PROBLEMS {
            outcome.problems.push(format!(
                "expected update {expected}, received {}..{}",
                sequences.start, sequences.end
            ));
        }
        // Lock order everywhere: ledger, then latency.
        let mut latency = latency.lock().expect("latency lock");
        for sequence in sequences {
            if sequence < expected {
                continue;
            }
            if let Delivery::Delivered(taken) = ledger.record_delivery(sequence, received_at) {
                latency.record(taken);
                outcome.received += 1;
            }
            expected = sequence + 1;
        }
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sink.close()).await;
    outcome
}
