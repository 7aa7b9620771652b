//! A flooding room: one writer replacing its room's whole text with a fresh large string at a
//! fixed rate, and readers that read everything and keep none of it. It is the noisy neighbour
//! of W3's isolation runs (issue #20): its own latency is not measured, only what it does to
//! the quiet rooms beside it.
//!
//! Every update deletes the text and inserts `bytes` new characters, so the document stays about
//! that size while the server stores, applies and fans out `bytes` per update. A writer that
//! falls behind skips the slots it missed rather than catching up in a burst: the flood is a
//! steady pressure, not a queue.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;
use yrs::{Doc, Text, TextRef, Transact};

use crate::connection::{ConnectError, Connector, FrameSink, feed, flush};
use crate::protocol::Framing;
use crate::traffic::writer::discard_incoming;

/// Client id of the flooding writer.
const FLOOD_CLIENT: u64 = 0x0046_4c4f_4f44;

/// A flooding room, joined.
pub struct FloodRoom {
    sink: FrameSink,
    framing: Framing,
    /// The readers' sending halves, kept open until the flood ends.
    reader_sinks: Vec<FrameSink>,
    /// Every client's incoming side, read and discarded until the flood stops.
    incoming: Vec<JoinHandle<Option<String>>>,
    stop: CancellationToken,
    doc: Doc,
    text: TextRef,
}

/// What the flood amounted to.
#[derive(Debug, Default)]
pub struct FloodOutcome {
    /// Updates the flooding writer sent.
    pub sent: u64,
    /// Bytes of those updates.
    pub bytes: u64,
    /// Why it stopped before it was told to, if it did.
    pub failure: Option<String>,
}

impl FloodRoom {
    /// Joins `readers` readers and then the writer to `room`.
    pub async fn join(
        connector: &Connector,
        room: &str,
        readers: u32,
    ) -> Result<Self, ConnectError> {
        let stop = CancellationToken::new();
        let mut incoming = Vec::with_capacity(readers as usize + 1);
        let mut reader_sinks = Vec::with_capacity(readers as usize);
        for _ in 0..readers {
            let reader = connector.join(room, None).await?;
            incoming.push(discard_incoming(reader.stream, stop.clone()));
            reader_sinks.push(reader.sink);
        }
        let writer = connector.join(room, None).await?;
        incoming.push(discard_incoming(writer.stream, stop.clone()));
        let doc = Doc::with_client_id(FLOOD_CLIENT);
        let text = doc.get_or_insert_text(crate::trace::TEXT_NAME);
        Ok(FloodRoom {
            sink: writer.sink,
            framing: writer.framing,
            reader_sinks,
            incoming,
            stop,
            doc,
            text,
        })
    }

    /// Replaces the text with `bytes` fresh characters `per_second` times a second until
    /// `until` is cancelled, then closes its clients.
    pub async fn run(
        mut self,
        bytes: usize,
        per_second: f64,
        until: CancellationToken,
    ) -> FloodOutcome {
        let mut outcome = FloodOutcome::default();
        let period = Duration::from_secs_f64(1.0 / per_second);
        let mut due = Instant::now();
        let mut round = 0_u64;
        while !until.is_cancelled() {
            if self.incoming.iter().any(JoinHandle::is_finished) {
                outcome.failure = Some("a client of the flooding room was disconnected".into());
                break;
            }
            let update = self.next_update(bytes, round);
            round += 1;
            let frame = self.framing.update(&update);
            let sent = async {
                feed(&mut self.sink, frame).await?;
                flush(&mut self.sink).await
            };
            let result = tokio::select! {
                result = sent => result,
                () = until.cancelled() => break,
            };
            if let Err(error) = result {
                outcome.failure = Some(format!("flooding writer: {error}"));
                break;
            }
            outcome.sent += 1;
            outcome.bytes += update.len() as u64;
            due += period;
            let now = Instant::now();
            if due < now {
                // Behind: skip the missed slots rather than burst.
                due = now;
            }
            tokio::select! {
                () = sleep_until(due.into()) => {}
                () = until.cancelled() => break,
            }
        }
        self.stop.cancel();
        let closing = std::iter::once(&mut self.sink).chain(self.reader_sinks.iter_mut());
        for sink in closing {
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        }
        outcome
    }

    /// One update: the whole text replaced by `bytes` characters that differ from the last ones.
    fn next_update(&mut self, bytes: usize, round: u64) -> Vec<u8> {
        let fill = char::from(b'a' + (round % 26) as u8)
            .to_string()
            .repeat(bytes);
        let mut transaction = self.doc.transact_mut();
        let length = self.text.len(&transaction);
        if length > 0 {
            self.text.remove_range(&mut transaction, 0, length);
        }
        self.text.insert(&mut transaction, 0, &fill);
        transaction.encode_update_v1()
    }
}
