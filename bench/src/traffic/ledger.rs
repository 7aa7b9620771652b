//! What one room's writer and readers share: when each update was sent, who got it.
//!
//! All clients run in one process, so the writer records each update's send instant here and a
//! reader computes latency as its receive instant minus that: no clocks to synchronise and no
//! timestamps in the payload. The ledger also counts deliveries per sequence number for the
//! saturating writer's in-flight window: update `k` may be sent only once every reader has
//! received every update before `k - window`, so a run measures how fast the server delivers,
//! not how long its queues can grow. A reader that is disconnected stops the window, so a server
//! that drops slow consumers is never counted as delivering to them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::report::LatencyRecorder;

/// One update as sent.
#[derive(Debug, Clone, Copy)]
struct SentUpdate {
    at: Instant,
    /// Its encoded length, which tells a reader that a received update is this one unchanged.
    length: u32,
}

/// Deliveries per sequence number for the last `window` updates.
#[derive(Debug)]
struct Window {
    counts: Vec<u32>,
    /// Every update before this one reached every reader.
    completed: u64,
}

/// The shared record of one room (see the module documentation).
#[derive(Debug)]
pub struct Ledger {
    writer_client: u64,
    readers: u32,
    sent: Vec<SentUpdate>,
    window: Option<Window>,
    deliveries: u64,
    first_sent: Option<Instant>,
    last_delivery: Option<Instant>,
    /// Wakes the writer when the window moves.
    progress: Arc<Notify>,
    /// Wakes whoever waits for the room to drain when every reader has every update sent.
    drained: Arc<Notify>,
}

/// A ledger behind its lock; the lock is never held across an `.await`.
pub type SharedLedger = Arc<Mutex<Ledger>>;

/// What recording a delivery found.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A sent update, with its latency.
    Delivered(Duration),
    /// A sequence number never sent: the update is not the writer's.
    Unknown,
}

impl Ledger {
    /// A ledger for the writer `writer_client` and `readers` readers; `window` bounds the
    /// updates in flight (saturating writers only).
    pub fn new(writer_client: u64, readers: u32, window: Option<u32>) -> Self {
        Ledger {
            writer_client,
            readers,
            sent: Vec::new(),
            window: window.map(|size| Window {
                counts: vec![0; size.max(1) as usize],
                completed: 0,
            }),
            deliveries: 0,
            first_sent: None,
            last_delivery: None,
            progress: Arc::new(Notify::new()),
            drained: Arc::new(Notify::new()),
        }
    }

    /// Puts the ledger behind a lock.
    pub fn shared(self) -> SharedLedger {
        Arc::new(Mutex::new(self))
    }

    /// Client id of the writer, whose updates readers look for.
    pub fn writer_client(&self) -> u64 {
        self.writer_client
    }

    /// The notification fired when the window moves.
    pub fn progress(&self) -> Arc<Notify> {
        Arc::clone(&self.progress)
    }

    /// The notification fired whenever every reader has every update sent so far.
    pub fn drained(&self) -> Arc<Notify> {
        Arc::clone(&self.drained)
    }

    /// Records that update `sequence` (the next one) of `length` bytes is sent now.
    pub fn record_sent(&mut self, length: usize, at: Instant) -> u64 {
        let sequence = self.sent.len() as u64;
        self.first_sent.get_or_insert(at);
        self.sent.push(SentUpdate {
            at,
            length: u32::try_from(length).unwrap_or(u32::MAX),
        });
        sequence
    }

    /// Number of updates sent.
    pub fn sent(&self) -> u64 {
        self.sent.len() as u64
    }

    /// Encoded length of update `sequence`, if it was sent.
    pub fn sent_length(&self, sequence: u64) -> Option<usize> {
        let sent = self.sent.get(usize::try_from(sequence).ok()?)?;
        Some(sent.length as usize)
    }

    /// How many more updates the window allows now (`u64::MAX` without a window).
    pub fn window_room(&self) -> u64 {
        match &self.window {
            Some(window) => (window.completed + window.counts.len() as u64)
                .saturating_sub(self.sent.len() as u64),
            None => u64::MAX,
        }
    }

    /// Records that a reader received update `sequence` at `at`; the caller has made sure each
    /// reader reports each sequence once.
    pub fn record_delivery(&mut self, sequence: u64, at: Instant) -> Delivery {
        let Some(sent) = usize::try_from(sequence)
            .ok()
            .and_then(|index| self.sent.get(index))
        else {
            return Delivery::Unknown;
        };
        let latency = at.saturating_duration_since(sent.at);
        self.deliveries += 1;
        self.last_delivery = Some(at);
        let sent_count = self.sent.len() as u64;
        if let Some(window) = &mut self.window {
            let mut progressed = false;
            let size = window.counts.len() as u64;
            window.counts[(sequence % size) as usize] += 1;
            while window.completed < sent_count
                && window.counts[(window.completed % size) as usize] == self.readers
            {
                window.counts[(window.completed % size) as usize] = 0;
                window.completed += 1;
                progressed = true;
            }
            if progressed {
                self.progress.notify_one();
            }
        }
        if self.all_delivered() {
            self.drained.notify_waiters();
        }
        Delivery::Delivered(latency)
    }

    /// Deliveries recorded so far.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// Whether every reader has every update sent so far.
    pub fn all_delivered(&self) -> bool {
        self.deliveries == self.sent() * u64::from(self.readers)
    }

    /// From the first send to the last delivery.
    pub fn active_time(&self) -> Duration {
        match (self.first_sent, self.last_delivery) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        }
    }
}

/// Latencies of every reader of every room of a run.
pub type SharedLatency = Arc<Mutex<LatencyRecorder>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_moves_when_every_reader_has_the_oldest_update() {
        let mut ledger = Ledger::new(1, 2, Some(2));
        let now = Instant::now();
        assert_eq!(ledger.window_room(), 2);
        ledger.record_sent(10, now);
        ledger.record_sent(10, now);
        assert_eq!(ledger.window_room(), 0);
        // Both readers get update 1 first: nothing completes until update 0 does.
        ledger.record_delivery(1, now);
        ledger.record_delivery(1, now);
        ledger.record_delivery(0, now);
        assert_eq!(ledger.window_room(), 0);
        ledger.record_delivery(0, now);
        assert_eq!(ledger.window_room(), 2);
        assert!(ledger.all_delivered());
        assert_eq!(ledger.record_delivery(5, now), Delivery::Unknown);
    }
}
