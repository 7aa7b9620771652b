//! Flushing the store with a time limit.
//!
//! A flush that never returns (sled 0.34 after a failed write, a device that stopped answering)
//! would hold the writer, and with it every room's edits and the server's shutdown, forever. So
//! the store is flushed on a thread of its own while the writer waits for it at most
//! [`Flusher::timeout`]; past that the flush counts as failed, the writer goes on answering, and
//! the thread is left to its fate: the store is not flushed again (storage is then failed until a
//! restart, see `storage_health`).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use storage::{DocStore, StoreError};

/// Why a flush did not make the batch durable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlushError {
    /// The store's flush failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The flush did not return in time (or an earlier one never did).
    #[error("the store's flush did not return within {0:?}")]
    TimedOut(Duration),
    /// The flushing thread is gone.
    #[error("the flushing thread stopped")]
    Stopped,
}

/// A thread that flushes the store when asked, and a deadline for its answer.
pub(crate) struct Flusher {
    requests: SyncSender<()>,
    answers: Receiver<Result<(), StoreError>>,
    timeout: Duration,
    /// An earlier flush never returned: the thread is still inside it.
    stuck: bool,
}

impl Flusher {
    /// Starts the flushing thread for `store`.
    pub(crate) fn start(store: Arc<dyn DocStore>, timeout: Duration) -> Self {
        let (requests, pending) = sync_channel::<()>(1);
        let (answer, answers) = sync_channel(1);
        std::thread::Builder::new()
            .name("quire-storage-flush".to_owned())
            .spawn(move || {
                while pending.recv().is_ok() {
                    if answer.send(store.flush()).is_err() {
                        break;
                    }
                }
            })
            .expect("the OS lets us start the storage flush thread");
        Flusher {
            requests,
            answers,
            timeout,
            stuck: false,
        }
    }

    /// Flushes the store, waiting at most the timeout.
    pub(crate) fn flush(&mut self) -> Result<(), FlushError> {
        if self.stuck {
            return Err(FlushError::TimedOut(self.timeout));
        }
        self.requests.send(()).map_err(|_| FlushError::Stopped)?;
        match self.answers.recv_timeout(self.timeout) {
            Ok(flushed) => Ok(flushed?),
            Err(RecvTimeoutError::Timeout) => {
                self.stuck = true;
                Err(FlushError::TimedOut(self.timeout))
            }
            Err(RecvTimeoutError::Disconnected) => Err(FlushError::Stopped),
        }
    }
}
