//! One writer and its readers in one room: the traffic of the hot-room and many-rooms workloads.
//!
//! [`RoomTraffic::join`] connects and syncs the readers (each then reads in its own task) and the
//! writer; [`RoomTraffic::write`] runs the writer at a pace; [`RoomTraffic::drain`] waits for the
//! last updates to arrive; [`RoomTraffic::close`] stops the clients and says what every client saw
//! ([`RoomTraffic::finish`] does both).

pub mod flood;
pub mod flood_thread;
pub mod ledger;
pub mod reader;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream;
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connection::{ConnectError, Connector, FrameSink};
use crate::protocol::Framing;
use ledger::{Ledger, SharedLatency, SharedLedger};
use reader::{ReaderOutcome, read_updates};
use writer::{AppendWriter, Pace, WriterOutcome, discard_incoming, write_updates};

/// Clients joining at once while a workload sets up.
pub const JOIN_CONCURRENCY: usize = 64;

/// Reader problems listed per room; the rest are counted.
const MAX_READER_PROBLEMS: usize = 10;

/// Client id of every room's writer (rooms are fresh, so it never meets another one).
const WRITER_CLIENT: u64 = 0x0042_454e_4348;

/// A room's clients, joined.
pub struct RoomTraffic {
    ledger: SharedLedger,
    readers: Vec<JoinHandle<ReaderOutcome>>,
    writer_sink: FrameSink,
    writer_framing: Framing,
    writer: AppendWriter,
    writer_incoming: JoinHandle<Option<String>>,
    stop: CancellationToken,
}

/// What a room's run amounted to.
#[derive(Debug, Default)]
pub struct RoomResult {
    /// Updates the writer sent.
    pub sent: u64,
    /// Updates readers received, summed over readers.
    pub deliveries: u64,
    /// From the first send to the last delivery.
    pub active_time: Duration,
    /// Furthest behind its schedule a fixed-rate writer fell.
    pub writer_max_lag: Duration,
    /// Everything that makes the run not count.
    pub problems: Vec<String>,
}

impl RoomTraffic {
    /// Joins `readers` readers and then the writer to `room`; `window` bounds a saturating
    /// writer's updates in flight.
    pub async fn join(
        connector: &Arc<Connector>,
        room: &str,
        readers: u32,
        window: Option<u32>,
        latency: &SharedLatency,
    ) -> Result<Self, ConnectError> {
        let ledger = Ledger::new(WRITER_CLIENT, readers, window).shared();
        let stop = CancellationToken::new();
        let mut joined = stream::iter(0..readers)
            .map(|_| connector.join(room, None))
            .buffer_unordered(JOIN_CONCURRENCY);
        let mut reader_tasks = Vec::with_capacity(readers as usize);
        while let Some(client) = joined.next().await {
            reader_tasks.push(tokio::spawn(read_updates(
                client?,
                Arc::clone(&ledger),
                Arc::clone(latency),
                stop.clone(),
            )));
        }
        let writer_client = connector.join(room, None).await?;
        let writer_incoming = discard_incoming(writer_client.stream, stop.clone());
        Ok(RoomTraffic {
            ledger,
            readers: reader_tasks,
            writer_sink: writer_client.sink,
            writer_framing: writer_client.framing,
            writer: AppendWriter::new(WRITER_CLIENT),
            writer_incoming,
            stop,
        })
    }

    /// Runs the writer at `pace`.
    pub async fn write(&mut self, pace: Pace) -> WriterOutcome {
        write_updates(
            &mut self.writer_sink,
            &self.writer_framing,
            &mut self.writer,
            &self.ledger,
            pace,
        )
        .await
    }

    /// Waits up to `drain_limit` for every reader to have every update, then stops the clients.
    pub async fn finish(self, writer: WriterOutcome, drain_limit: Duration) -> RoomResult {
        self.drain(drain_limit).await;
        self.close(writer).await
    }

    /// Waits up to `drain_limit` for every reader to have every update (or to have ended).
    pub async fn drain(&self, drain_limit: Duration) {
        let drained = self.ledger.lock().expect("ledger lock").drained();
        let _ = tokio::time::timeout(drain_limit, async {
            loop {
                // Registered before the check, so a delivery between the two is not missed.
                let notified = drained.notified();
                if self.ledger.lock().expect("ledger lock").all_delivered()
                    || self.readers.iter().all(JoinHandle::is_finished)
                {
                    return;
                }
                // Readers that end do not notify; look again now and then.
                let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
            }
        })
        .await;
    }

    /// Stops the clients and says what every client saw; call after [`RoomTraffic::drain`].
    pub async fn close(mut self, writer: WriterOutcome) -> RoomResult {
        let writer_ended = self.writer_incoming.is_finished();
        self.stop.cancel();
        let mut result = RoomResult {
            sent: writer.sent,
            writer_max_lag: writer.max_lag,
            ..RoomResult::default()
        };
        if let Some(failure) = writer.failure {
            result.problems.push(failure);
        }
        if writer_ended && let Ok(Some(end)) = self.writer_incoming.await {
            result.problems.push(format!("writer connection {end}"));
        }
        let reader_count = self.readers.len() as u64;
        let mut short_readers = 0u64;
        let mut reader_problems = Vec::new();
        for (index, reader) in self.readers.into_iter().enumerate() {
            let outcome = reader.await.unwrap_or_default();
            result.deliveries += outcome.received;
            if let Some(end) = outcome.ended_early {
                reader_problems.push(format!("reader {index}: {end}"));
            }
            reader_problems.extend(
                outcome
                    .problems
                    .into_iter()
                    .map(|problem| format!("reader {index}: {problem}")),
            );
            if outcome.received < writer.sent {
                short_readers += 1;
            }
        }
        if reader_problems.len() > MAX_READER_PROBLEMS {
            let more = reader_problems.len() - MAX_READER_PROBLEMS;
            reader_problems.truncate(MAX_READER_PROBLEMS);
            reader_problems.push(format!("... and {more} more reader problems"));
        }
        result.problems.extend(reader_problems);
        if short_readers > 0 {
            result.problems.push(format!(
                "{short_readers} of {reader_count} readers missed updates ({} of {} delivered)",
                result.deliveries,
                writer.sent * reader_count
            ));
        }
        result.active_time = self.ledger.lock().expect("ledger lock").active_time();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.writer_sink.close()).await;
        result
    }
}
