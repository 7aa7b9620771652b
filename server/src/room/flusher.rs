//! A time limit on flushing the store.
//!
//! A flush that never returns (sled 0.34 after a failed write, a device that stopped answering)
//! would hold the writer, and with it the answers every room waits for, forever. The writer
//! flushes on its own thread, as before (handing each flush to another thread cost latency on W3:
//! two more thread wake-ups per batch), but first puts the batch's waiting requests in a slot
//! this watchdog watches: when the
//! flush returns, the writer takes them back and answers them; when it has not returned within
//! the limit, the watchdog takes them, answers them as failed and reports storage as failed (see
//! `storage_health`: no write is taken after that until a restart). The writer thread stays inside
//! the flush; nothing is ever answered twice, since whoever takes the slot answers.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use storage::{AppendReceipt, StoreError};
use tokio::sync::oneshot;

use super::storage_error::{PersistResult, StorageError};
use super::storage_health::StorageHealth;

/// A request whose append worked, waiting for the flush that makes it durable.
pub(crate) type Waiting = (oneshot::Sender<PersistResult>, Option<AppendReceipt>);

/// Watches the writer's flushes; cheap to share with the writer.
pub(crate) struct FlushWatchdog {
    watched: Arc<Watched>,
}

struct Watched {
    slot: Mutex<Option<Watch>>,
    timeout: Duration,
    health: Arc<StorageHealth>,
}

/// A flush under way and the requests it will answer.
struct Watch {
    started: Instant,
    waiting: Vec<Waiting>,
}

impl FlushWatchdog {
    /// Starts the watchdog thread; it ends with the watchdog.
    pub(crate) fn start(timeout: Duration, health: Arc<StorageHealth>) -> Self {
        let watched = Arc::new(Watched {
            slot: Mutex::new(None),
            timeout,
            health,
        });
        let weak = Arc::downgrade(&watched);
        // Checked ten times per limit, at most once a millisecond and at least once a second.
        let interval = (timeout / 10).clamp(Duration::from_millis(1), Duration::from_secs(1));
        std::thread::Builder::new()
            .name("quire-flush-watchdog".to_owned())
            .spawn(move || watch(weak, interval))
            .expect("the OS lets us start the flush watchdog thread");
        FlushWatchdog { watched }
    }

    /// Runs `flush` with `waiting` in the watchdog's care. Returns the flush's outcome and the
    /// requests to answer, or `None` when the flush took too long and the watchdog answered
    /// them already.
    pub(crate) fn flush(
        &self,
        flush: impl FnOnce() -> Result<(), StoreError>,
        waiting: Vec<Waiting>,
    ) -> Option<(Result<(), StoreError>, Vec<Waiting>)> {
        *self.watched.lock() = Some(Watch {
            started: Instant::now(),
            waiting,
        });
        let flushed = flush();
        let watch = self.watched.lock().take()?;
        Some((flushed, watch.waiting))
    }
}

impl Watched {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Watch>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The watchdog thread: answers, as failed, the requests of a flush past its limit.
fn watch(watched: Weak<Watched>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(watched) = watched.upgrade() else {
            return;
        };
        let overdue = {
            let mut slot = watched.lock();
            let late = slot
                .as_ref()
                .is_some_and(|watch| watch.started.elapsed() >= watched.timeout);
            if late { slot.take() } else { None }
        };
        let Some(overdue) = overdue else {
            continue;
        };
        let failure = format!(
            "the store's flush did not return within {:?}",
            watched.timeout
        );
        watched.health.record_failure(failure.clone());
        for (done, _) in overdue.waiting {
            let _ = done.send(Err(StorageError::FlushFailed(failure.clone())));
        }
    }
}
