//! The writer of a hot or busy room: one character per update, at a fixed rate or as fast as
//! the window allows.
//!
//! Each update is a real yrs transaction (one character appended by a document with a fixed
//! client id), so servers apply and store real Yjs updates, and update `k` has clock `k`, which
//! is how readers recognise it. The writer's socket is read and discarded by a separate task:
//! y-websocket servers echo each update to its sender and Hocuspocus acknowledges each one, and a
//! writer that never read would stall the server behind a full socket.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use yrs::{Doc, Text, TextRef, Transact};

use crate::connection::{FrameSink, FrameStream, describe_end, feed, flush};
use crate::protocol::Framing;
use crate::traffic::ledger::SharedLedger;

/// How far behind its schedule a fixed-rate writer may fall before the run is abandoned: the
/// server has stopped taking updates. Shorter lags are reported (`writer_max_lag_ms`), and the
/// writer catches up by sending what is due at once, as an open-loop client would; a lag of tens
/// of milliseconds is also what a busy machine's scheduler can cause on its own.
pub const SCHEDULE_SLACK: Duration = Duration::from_secs(1);

/// How long a saturating writer waits for its window to move before giving up on the run.
const STALL_LIMIT: Duration = Duration::from_secs(10);

/// Most updates sent in one burst before flushing, so a fast window is not one huge write.
const MAX_BURST: u64 = 256;

/// Produces the writer's updates.
pub struct AppendWriter {
    doc: Doc,
    text: TextRef,
}

impl AppendWriter {
    /// A writer whose updates carry `client` as their client id.
    pub fn new(client: u64) -> Self {
        let doc = Doc::with_client_id(client);
        let text = doc.get_or_insert_text(crate::trace::TEXT_NAME);
        AppendWriter { doc, text }
    }

    /// The next update: one more character at the end.
    pub fn next_update(&mut self) -> Vec<u8> {
        let mut transaction = self.doc.transact_mut();
        self.text.push(&mut transaction, "x");
        transaction.encode_update_v1()
    }
}

/// How the writer paces itself.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// `per_second` updates a second, for `duration`.
    Fixed { per_second: f64, duration: Duration },
    /// As fast as the ledger's window allows, for `duration`.
    Saturate { duration: Duration },
}

/// How the writer's run went.
#[derive(Debug, Default)]
pub struct WriterOutcome {
    /// Updates sent.
    pub sent: u64,
    /// Why the run stopped early, if it did.
    pub failure: Option<String>,
    /// Furthest behind its schedule the fixed-rate writer fell.
    pub max_lag: Duration,
}

/// Sends updates at `pace` into `sink`, recording each in `ledger`.
pub async fn write_updates(
    sink: &mut FrameSink,
    framing: &Framing,
    writer: &mut AppendWriter,
    ledger: &SharedLedger,
    pace: Pace,
) -> WriterOutcome {
    let result = match pace {
        Pace::Fixed {
            per_second,
            duration,
        } => write_fixed(sink, framing, writer, ledger, per_second, duration).await,
        Pace::Saturate { duration } => {
            write_saturating(sink, framing, writer, ledger, duration).await
        }
    };
    let sent = ledger.lock().expect("ledger lock").sent();
    match result {
        Ok(max_lag) => WriterOutcome {
            sent,
            failure: None,
            max_lag,
        },
        Err(failure) => WriterOutcome {
            sent,
            failure: Some(failure),
            max_lag: Duration::ZERO,
        },
    }
}

async fn send_one(
    sink: &mut FrameSink,
    framing: &Framing,
    writer: &mut AppendWriter,
    ledger: &SharedLedger,
) -> Result<(), String> {
    let update = writer.next_update();
    let frame = framing.update(&update);
    ledger
        .lock()
        .expect("ledger lock")
        .record_sent(update.len(), Instant::now());
    feed(sink, frame)
        .await
        .map_err(|error| format!("writer socket: {error}"))
}

async fn write_fixed(
    sink: &mut FrameSink,
    framing: &Framing,
    writer: &mut AppendWriter,
    ledger: &SharedLedger,
    per_second: f64,
    duration: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let total = (per_second * duration.as_secs_f64()).round().max(1.0) as u64;
    let due_at = |sequence: u64| start + Duration::from_secs_f64(sequence as f64 / per_second);
    let mut sent = 0;
    let mut max_lag = Duration::ZERO;
    while sent < total {
        let now = Instant::now();
        while sent < total && due_at(sent) <= now {
            max_lag = max_lag.max(now.saturating_duration_since(due_at(sent)));
            send_one(sink, framing, writer, ledger).await?;
            sent += 1;
        }
        flush(sink)
            .await
            .map_err(|error| format!("writer socket: {error}"))?;
        if max_lag > SCHEDULE_SLACK {
            return Err(format!(
                "the writer fell {max_lag:?} behind its schedule of {per_second} updates/s"
            ));
        }
        if sent < total {
            sleep_until(due_at(sent).into()).await;
        }
    }
    Ok(max_lag)
}

async fn write_saturating(
    sink: &mut FrameSink,
    framing: &Framing,
    writer: &mut AppendWriter,
    ledger: &SharedLedger,
    duration: Duration,
) -> Result<Duration, String> {
    let progress = ledger.lock().expect("ledger lock").progress();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        let room = ledger.lock().expect("ledger lock").window_room();
        for _ in 0..room.min(MAX_BURST) {
            send_one(sink, framing, writer, ledger).await?;
        }
        flush(sink)
            .await
            .map_err(|error| format!("writer socket: {error}"))?;
        if room <= MAX_BURST
            && tokio::time::timeout(STALL_LIMIT, progress.notified())
                .await
                .is_err()
        {
            return Err(format!(
                "no progress for {STALL_LIMIT:?}: a reader stopped receiving"
            ));
        }
    }
    Ok(Duration::ZERO)
}

/// Reads and discards what the server sends the writer (echoes, acks) until `stop`; the handle
/// yields why the socket ended if it ended first.
pub fn discard_incoming(
    mut stream: FrameStream,
    stop: CancellationToken,
) -> JoinHandle<Option<String>> {
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                () = stop.cancelled() => return None,
            };
            match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    return Some(describe_end(message));
                }
                Some(Ok(_)) => {}
            }
        }
    })
}
