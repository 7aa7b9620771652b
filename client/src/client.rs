//! [`Client`]: one document kept in sync with a server, over a WebSocket that comes back.
//!
//! The handle owns the yrs [`Doc`]; a background task owns the sans-IO [`SyncClient`] and the
//! socket. Local edits need no special API: any transaction on the document that does not come
//! from the server is picked up by an update observer and sent. The task reconnects after drops
//! (see [`crate::reconnect`]) and every new connection starts with the state-vector exchange, so
//! edits made while offline reach the server and the server's reach the document.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crdt_core::{REMOTE_ORIGIN, SyncClient};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Error as SocketError;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};
use yrs::{Doc, OffsetKind, Options, Origin, ReadTxn, StateVector, TextRef, Transact};

use crate::endpoint::Endpoint;
use crate::error::ClientError;
use crate::reconnect::{Backoff, ReconnectPolicy, refusal_is_final};
use crate::session::{SessionEnd, Socket, run_session};
use crate::status::{ConnectionState, Shared, Status};

/// Name of the root text Quire's web editor edits (`client-web/src/shared-text.ts`); a file
/// mirror and a browser share a document's text through it.
pub const TEXT_NAME: &str = "text";

/// How long opening a WebSocket (TCP, TLS, upgrade) may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Tells observers of different clients on one process apart.
static NEXT_OBSERVER: AtomicU64 = AtomicU64::new(0);

/// A document kept in sync with one server.
pub struct Client {
    doc: Doc,
    shared: Arc<Shared>,
    status: watch::Receiver<Status>,
    cancel: CancellationToken,
    task: Option<JoinHandle<Result<(), ClientError>>>,
    observer: String,
}

impl Client {
    /// A document for a client: text offsets count UTF-16 code units, as in Yjs, so an index a
    /// JavaScript editor reports means the same here.
    pub fn new_doc() -> Doc {
        Doc::with_options(Options {
            offset_kind: OffsetKind::Utf16,
            ..Options::default()
        })
    }

    /// Starts syncing a new document (see [`Client::new_doc`]) with `endpoint`. Must be called
    /// within a Tokio runtime; returns at once, see [`Client::wait_synced`].
    pub fn connect(endpoint: Endpoint, policy: ReconnectPolicy) -> Self {
        Self::connect_with_doc(endpoint, policy, Self::new_doc())
    }

    /// Starts syncing `doc`, which may already hold content (it is sent on connect).
    pub fn connect_with_doc(endpoint: Endpoint, policy: ReconnectPolicy, doc: Doc) -> Self {
        let shared = Arc::new(Shared::new());
        let status = shared.subscribe();
        let observer = format!(
            "quire-client-{}",
            NEXT_OBSERVER.fetch_add(1, Ordering::Relaxed)
        );
        let observing = shared.clone();
        let remote = Origin::from(REMOTE_ORIGIN);
        doc.observe_update_v1(observer.as_str(), move |transaction, event| {
            if transaction.origin() == Some(&remote) {
                observing.note_remote_update();
            } else {
                observing.queue_local_update(event.update.clone());
            }
        })
        .expect("a new client's document is not in a transaction");
        let cancel = CancellationToken::new();
        let span = info_span!("client", document = %endpoint.document());
        let task = tokio::spawn(
            run(
                endpoint,
                policy,
                SyncClient::new(doc.clone()),
                shared.clone(),
                cancel.clone(),
            )
            .instrument(span),
        );
        Client {
            doc,
            shared,
            status,
            cancel,
            task: Some(task),
            observer,
        }
    }

    /// The document. Edit it in transactions as usual; every local transaction is sent.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    /// The root text Quire's web editor shows ([`TEXT_NAME`]).
    pub fn text(&self) -> TextRef {
        self.doc.get_or_insert_text(TEXT_NAME)
    }

    /// The client's state now.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver of every change of the client's state (connection, remote changes, server
    /// acknowledgements).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.shared.subscribe()
    }

    /// A token whose cancellation shuts the client down, like [`Client::shutdown`].
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits until the current connection has completed its sync; fails if the client stopped.
    pub async fn wait_synced(&mut self) -> Result<(), ClientError> {
        let mut status = self.status.clone();
        loop {
            match status.borrow_and_update().connection {
                ConnectionState::Synced => return Ok(()),
                ConnectionState::Stopped => break,
                _ => {}
            }
            if status.changed().await.is_err() {
                break;
            }
        }
        Err(self.stop_reason().await)
    }

    /// Waits until the server has stored everything the document holds now: Quire answers a
    /// SyncStep1 only after the updates received before it are durable (with the default
    /// `--durability strict`), so its state vector covering ours is the acknowledgement. Over a
    /// read-only token it would wait forever (Quire asks read-only clients for nothing); edits
    /// there stop the client with [`ClientError::PermissionDenied`] instead.
    pub async fn wait_stored(&mut self) -> Result<(), ClientError> {
        let target = self.doc.transact().state_vector();
        let mut status = self.status.clone();
        loop {
            let (covered, stopped, received) = {
                let now = status.borrow_and_update();
                (
                    now.server_state
                        .as_ref()
                        .is_some_and(|server| covers(server, &target)),
                    now.connection == ConnectionState::Stopped,
                    now.server_states_received,
                )
            };
            if covered {
                return Ok(());
            }
            if stopped {
                return Err(self.stop_reason().await);
            }
            self.shared.request_server_state();
            loop {
                if status.changed().await.is_err() {
                    return Err(self.stop_reason().await);
                }
                let now = status.borrow_and_update();
                if now.server_states_received != received
                    || now.connection == ConnectionState::Stopped
                {
                    break;
                }
            }
        }
    }

    /// Waits until the client stops on its own: `Err` with the reason retrying could not cure.
    /// Once that was returned, later calls return [`ClientError::Stopped`].
    ///
    /// Cancel-safe: callers race it against shutdown in a `select!` or a timeout. The task is
    /// awaited in place and let go of only once it has ended, so a wait dropped before then
    /// leaves the task's result to the next [`Client::stopped`] or [`Client::shutdown`]
    /// instead of losing a fatal error (and `quire sync` exiting 0 after it).
    pub async fn stopped(&mut self) -> Result<(), ClientError> {
        let Some(task) = self.task.as_mut() else {
            return Err(ClientError::Stopped);
        };
        let ended = task.await;
        self.task = None;
        ended.map_err(ClientError::TaskFailed)?
    }

    /// Closes the connection cleanly and waits for the task to end; returns the error it had
    /// stopped with, if it had.
    pub async fn shutdown(mut self) -> Result<(), ClientError> {
        self.cancel.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(ClientError::TaskFailed)?,
            None => Ok(()),
        }
    }

    async fn stop_reason(&mut self) -> ClientError {
        match self.stopped().await {
            Ok(()) => ClientError::Stopped,
            Err(error) => error,
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.cancel.cancel();
        // The document may outlive the client; it must stop feeding this client's queue.
        let _ = self.doc.unobserve_update_v1(self.observer.as_str());
    }
}

/// Whether `server` has every update `local` counts.
fn covers(server: &StateVector, local: &StateVector) -> bool {
    local
        .iter()
        .all(|(client, clock)| server.get(client) >= *clock)
}

/// The client's task: connect, run a session, wait, again, until cancelled or stopped for good.
async fn run(
    endpoint: Endpoint,
    policy: ReconnectPolicy,
    mut sync: SyncClient,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> Result<(), ClientError> {
    let result = reconnect_loop(&endpoint, policy, &mut sync, &shared, &cancel).await;
    if let Err(error) = &result {
        warn!(%error, "stopped");
    }
    shared.set_connection(ConnectionState::Stopped);
    result
}

async fn reconnect_loop(
    endpoint: &Endpoint,
    policy: ReconnectPolicy,
    sync: &mut SyncClient,
    shared: &Shared,
    cancel: &CancellationToken,
) -> Result<(), ClientError> {
    let mut backoff = Backoff::new(policy);
    loop {
        shared.set_connection(ConnectionState::Connecting);
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            attempt = connect(endpoint) => attempt,
        };
        let failure = match attempt {
            Ok(socket) => {
                info!(%endpoint, "connected");
                match run_session(socket, sync, shared, cancel).await {
                    SessionEnd::Cancelled => return Ok(()),
                    SessionEnd::Fatal(error) => return Err(error),
                    SessionEnd::Dropped { reason, synced } => {
                        if synced {
                            backoff.reset();
                        }
                        reason
                    }
                }
            }
            Err(ConnectFailure::Final(error)) => return Err(error),
            Err(ConnectFailure::Retry(reason)) => reason,
        };
        let Some(delay) = backoff.next_delay() else {
            return Err(ClientError::GaveUp {
                attempts: backoff.failures(),
                last: failure,
            });
        };
        warn!(reason = %failure, retry_in = ?delay, "not connected; retrying");
        shared.set_connection(ConnectionState::Waiting {
            retry_in: delay,
            after: failure,
        });
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Why opening a WebSocket failed.
enum ConnectFailure {
    /// Trying again may work.
    Retry(String),
    /// Trying again would get the same answer.
    Final(ClientError),
}

async fn connect(endpoint: &Endpoint) -> Result<Socket, ConnectFailure> {
    let opening = tokio_tungstenite::connect_async_with_config(endpoint.url(), None, true);
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, opening)
        .await
        .map_err(|_| ConnectFailure::Retry(format!("no connection within {CONNECT_TIMEOUT:?}")))?;
    match opened {
        Ok((socket, _response)) => Ok(socket),
        Err(SocketError::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            if refusal_is_final(status) {
                Err(ConnectFailure::Final(ClientError::Refused { status, body }))
            } else {
                Err(ConnectFailure::Retry(format!("HTTP {status}: {body}")))
            }
        }
        Err(error @ (SocketError::Tls(_) | SocketError::Url(_))) => {
            Err(ConnectFailure::Final(ClientError::Connect(error)))
        }
        Err(error) => Err(ConnectFailure::Retry(error.to_string())),
    }
}
