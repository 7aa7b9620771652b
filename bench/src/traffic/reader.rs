//! A reader that tells which writer update each frame is, without a CRDT.
//!
//! Hot-room readers only need to know that update `k` arrived, when, and whether one is missing:
//! the writer's updates each insert one character, so the clock of the update's first struct is
//! its sequence number ([`crate::update_id`]), and an update whose length equals what was sent is
//! that update unchanged. Anything else from the writer is decoded fully to learn the clocks it
//! covers. Each reader expects the sequence numbers in order (servers relay a room's updates in
//! order); a gap or a repeat is a problem the report shows.

use std::time::Instant;

use futures_util::{FutureExt, SinkExt, StreamExt};
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
///
/// Frames already buffered when one arrives are handled with the same receive instant: they were
/// all there by then, and reading the clock once per burst rather than per frame is a visible
/// share of a reader's cost at millions of frames a second.
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
    let mut reader = Reader {
        writer_client,
        ledger,
        latency,
        expected: 0,
        outcome: ReaderOutcome::default(),
    };
    'reading: loop {
        let mut message = tokio::select! {
            biased;
            message = stream.next() => message,
            () = stop.cancelled() => break,
        };
        let received_at = Instant::now();
        loop {
            let frame = match message {
                Some(Ok(Message::Binary(frame))) => Some(frame),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    reader.outcome.ended_early = Some(describe_end(message));
                    break 'reading;
                }
                Some(Ok(_)) => None,
            };
            match frame.as_deref().map(|frame| framing.read(frame)) {
                Some(Ok(Incoming::Update(update))) => reader.handle_update(update, received_at),
                Some(Ok(Incoming::SyncStep1(_))) => {
                    // A server may ask again (y-websocket resyncs periodically); this reader
                    // holds nothing of its own.
                    if let Err(error) = send_now(&mut sink, framing.empty_sync_step2()).await {
                        reader.outcome.ended_early = Some(format!("socket error: {error}"));
                        break 'reading;
                    }
                }
                Some(Err(error)) => reader.note(error.to_string()),
                Some(Ok(_)) | None => {}
            }
            match stream.next().now_or_never() {
                Some(next) => message = next,
                None => break,
            }
        }
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sink.close()).await;
    reader.outcome
}

/// One reader's state between frames.
struct Reader {
    writer_client: u64,
    ledger: SharedLedger,
    latency: SharedLatency,
    /// The next sequence number this reader should receive.
    expected: u64,
    outcome: ReaderOutcome,
}

impl Reader {
    fn note(&mut self, problem: String) {
        if self.outcome.problems.len() < MAX_PROBLEMS {
            self.outcome.problems.push(problem);
        }
    }

    fn handle_update(&mut self, update: &[u8], received_at: Instant) {
        let Some(first) = first_struct(update) else {
            return;
        };
        if first.client != self.writer_client {
            return;
        }
        let mut ledger = self.ledger.lock().expect("ledger lock");
        let sequences = if first.alone && ledger.sent_length(first.clock) == Some(update.len()) {
            first.clock..first.clock + 1
        } else {
            match clock_range(update, self.writer_client) {
                Some(range) => range,
                None => {
                    drop(ledger);
                    self.note("an update of the writer does not decode".to_owned());
                    return;
                }
            }
        };
        if sequences.start != self.expected && self.outcome.problems.len() < MAX_PROBLEMS {
            self.outcome.problems.push(format!(
                "expected update {}, received {}..{}",
                self.expected, sequences.start, sequences.end
            ));
        }
        // Lock order everywhere: ledger, then latency.
        let mut latency = self.latency.lock().expect("latency lock");
        for sequence in sequences {
            if sequence < self.expected {
                continue;
            }
            if let Delivery::Delivered(taken) = ledger.record_delivery(sequence, received_at) {
                latency.record(taken);
                self.outcome.received += 1;
            }
            self.expected = sequence + 1;
        }
    }
}
