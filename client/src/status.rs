//! What a client's task shares with its handle and with the document's observer: the published
//! [`Status`], local updates waiting to be sent, and requests for the server's state vector.
//!
//! The document's update observer runs inside yrs's commit, synchronously, so it can neither
//! await a bounded channel nor touch the document. It only appends the update to a short list
//! behind a std mutex (never held across an await) and wakes the session, which merges whatever
//! accumulated into one Update message. The list holds at most what was edited since the
//! session last woke, or, while offline, since the connection was lost; the reconnect's
//! state-vector exchange makes those copies redundant and the next session drops them.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use yrs::StateVector;

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening a WebSocket.
    Connecting,
    /// Connected; the state vectors are being exchanged.
    Syncing,
    /// Connected and caught up: the server's SyncStep2 arrived.
    Synced,
    /// Disconnected; the next attempt starts after `retry_in`.
    Waiting {
        /// The wait before the next attempt.
        retry_in: Duration,
        /// Why the last connection or attempt ended.
        after: String,
    },
    /// The client stopped: shut down, or an error retrying cannot cure.
    Stopped,
}

/// A client's published state; see [`crate::Client::watch_status`].
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Where the connection stands.
    pub connection: ConnectionState,
    /// Transactions from the server applied to the document so far; grows on every remote
    /// change, so a watcher knows when to re-read the document.
    pub remote_updates: u64,
    /// The server's state vector as of its last SyncStep1 (kept across reconnects: what it
    /// acknowledged stays stored).
    pub server_state: Option<StateVector>,
    /// How many server state vectors arrived so far.
    pub server_states_received: u64,
}

/// State shared by a client's handle, task and document observer.
pub(crate) struct Shared {
    status: watch::Sender<Status>,
    local_updates: Mutex<Vec<Vec<u8>>>,
    local_updates_ready: Notify,
    server_state_requested: Notify,
}

impl Shared {
    pub(crate) fn new() -> Self {
        let (status, _) = watch::channel(Status {
            connection: ConnectionState::Connecting,
            remote_updates: 0,
            server_state: None,
            server_states_received: 0,
        });
        Shared {
            status,
            local_updates: Mutex::new(Vec::new()),
            local_updates_ready: Notify::new(),
            server_state_requested: Notify::new(),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    pub(crate) fn set_connection(&self, connection: ConnectionState) {
        self.status.send_if_modified(|status| {
            let changed = status.connection != connection;
            status.connection = connection;
            changed
        });
    }

    pub(crate) fn set_server_state(&self, state: Option<StateVector>, received: u64) {
        self.status.send_modify(|status| {
            status.server_state = state;
            status.server_states_received = received;
        });
    }

    /// Called by the document observer for every transaction the server's updates made.
    pub(crate) fn note_remote_update(&self) {
        self.status.send_modify(|status| status.remote_updates += 1);
    }

    /// Called by the document observer for every local transaction.
    pub(crate) fn queue_local_update(&self, update: Vec<u8>) {
        self.lock_local_updates().push(update);
        self.local_updates_ready.notify_one();
    }

    pub(crate) fn take_local_updates(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.lock_local_updates())
    }

    pub(crate) async fn local_updates_ready(&self) {
        self.local_updates_ready.notified().await
    }

    pub(crate) fn request_server_state(&self) {
        self.server_state_requested.notify_one();
    }

    pub(crate) async fn server_state_requested(&self) {
        self.server_state_requested.notified().await
    }

    fn lock_local_updates(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic while pushing to a Vec leaves it whole: keep going with what it holds.
        self.local_updates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
