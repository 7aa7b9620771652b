//! One WebSocket connection's life: drives the sans-IO [`SyncClient`] until the connection ends.
//!
//! Everything the session reacts to is one `select!`: frames from the server, local updates the
//! document's observer queued, requests for the server's state vector, a keepalive timer and
//! the shutdown token. The server pings every 20 s, but a vanished server (a laptop's network
//! gone) never closes anything, so the session also pings and gives the connection up when
//! nothing at all arrived for two keepalive intervals.
//!
//! Sending can block too: a server that stops reading fills the TCP window, and a write then
//! waits until TCP gives up, which with a live but stuck peer is never. So every send (frames,
//! pings) races the shutdown token and a deadline (`SEND_DEADLINE`), past which the
//! connection counts as dead and is replaced, and closing is bounded by `CLOSE_WAIT` in all.

use std::time::Duration;

use bytes::Bytes;
use crdt_core::SyncClient;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::error::ClientError;
use crate::status::{ConnectionState, Shared};

/// A connected socket.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How often the client pings; silence for twice this ends the connection.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// How long one round of sending may take before the connection counts as dead: as long as
/// silence may. Long enough for many megabytes on any working link, so only a stuck peer hits it.
const SEND_DEADLINE: Duration = KEEPALIVE_INTERVAL.saturating_mul(2);

/// How long closing may take in all: sending the close frame, then the server's answer.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How a session ended.
pub(crate) enum SessionEnd {
    /// The shutdown token was cancelled; the connection was closed cleanly.
    Cancelled,
    /// The connection ended in a way a new one can cure.
    Dropped {
        /// What happened, for the log.
        reason: String,
        /// Whether the sync completed before it ended (the backoff starts over).
        synced: bool,
    },
    /// The connection ended in a way a new one would repeat.
    Fatal(ClientError),
}

/// Runs one connection until it ends.
pub(crate) async fn run_session(
    mut socket: Socket,
    sync: &mut SyncClient,
    shared: &Shared,
    cancel: &CancellationToken,
) -> SessionEnd {
    // Whatever was queued while offline is in the document; the state-vector exchange below
    // sends it, so the queued copies are dropped rather than sent twice.
    shared.take_local_updates();
    sync.handle_connected();
    shared.set_connection(ConnectionState::Syncing);
    let end = drive(&mut socket, sync, shared, cancel).await;
    sync.handle_disconnected();
    if matches!(end, SessionEnd::Cancelled) {
        close(&mut socket, CloseCode::Normal, "client shutting down").await;
    }
    end
}

async fn drive(
    socket: &mut Socket,
    sync: &mut SyncClient,
    shared: &Shared,
    cancel: &CancellationToken,
) -> SessionEnd {
    let mut keepalive =
        tokio::time::interval_at(Instant::now() + KEEPALIVE_INTERVAL, KEEPALIVE_INTERVAL);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut synced = false;
    // Pings go out with the frames, under the same deadline; a ping sent on its own could
    // block as long as any other write.
    let mut ping_due = false;
    let dropped = |reason: String, synced: bool| SessionEnd::Dropped { reason, synced };
    loop {
        let ping = std::mem::take(&mut ping_due);
        let sending = tokio::time::timeout(SEND_DEADLINE, flush(socket, sync, ping));
        // Sending comes first: frames that can go out at once (an edit made just before a
        // shutdown) are sent; only a send that is stuck gives way to the shutdown.
        let sent = tokio::select! {
            biased;
            sent = sending => sent,
            _ = cancel.cancelled() => return SessionEnd::Cancelled,
        };
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return dropped(format!("sending failed: {error}"), synced),
            Err(_) => {
                return dropped(format!("sending stalled for {SEND_DEADLINE:?}"), synced);
            }
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return SessionEnd::Cancelled,
            received = socket.next() => {
                last_heard = Instant::now();
                let message = match received {
                    None => return dropped("the connection ended".into(), synced),
                    Some(Err(error)) => return dropped(format!("the connection failed: {error}"), synced),
                    Some(Ok(message)) => message,
                };
                match message {
                    Message::Binary(frame) => {
                        if let Err(end) = handle_frame(socket, sync, shared, &frame).await {
                            return end;
                        }
                        if !synced && sync.is_synced() {
                            synced = true;
                            info!("synced");
                            shared.set_connection(ConnectionState::Synced);
                        }
                    }
                    Message::Close(frame) => {
                        let (code, reason) = frame
                            .map(|frame| (u16::from(frame.code), frame.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        if crdt_core::close_code::is_final(code) {
                            return SessionEnd::Fatal(ClientError::ClosedForGood { code, reason });
                        }
                        return dropped(format!("closed by the server: {code} {reason}"), synced);
                    }
                    // Pings are answered by tungstenite on the next write or read.
                    _ => {}
                }
            }
            _ = shared.local_updates_ready() => {
                let updates = shared.take_local_updates();
                send_local_updates(sync, updates);
            }
            _ = shared.server_state_requested() => sync.handle_server_state_request(),
            _ = keepalive.tick() => {
                if last_heard.elapsed() >= 2 * KEEPALIVE_INTERVAL {
                    return dropped("the server went silent".into(), synced);
                }
                ping_due = true;
            }
        }
    }
}

/// Applies one frame from the server and publishes what it changed.
async fn handle_frame(
    socket: &mut Socket,
    sync: &mut SyncClient,
    shared: &Shared,
    frame: &[u8],
) -> Result<(), SessionEnd> {
    let states_before = sync.server_states_received();
    if let Err(error) = sync.handle_frame(frame) {
        close(socket, CloseCode::Invalid, "undecodable frame").await;
        return Err(SessionEnd::Fatal(ClientError::Protocol(error)));
    }
    if let Some(reason) = sync.permission_denied() {
        let reason = reason.to_owned();
        close(socket, CloseCode::Normal, "edits refused").await;
        return Err(SessionEnd::Fatal(ClientError::PermissionDenied(reason)));
    }
    if sync.server_states_received() != states_before {
        shared.set_server_state(sync.server_state().cloned(), sync.server_states_received());
    }
    Ok(())
}

/// Sends the updates of local transactions, merged into one message.
fn send_local_updates(sync: &mut SyncClient, updates: Vec<Vec<u8>>) {
    match updates.len() {
        0 => {}
        1 => sync.handle_local_update(&updates[0]),
        _ => {
            let parts: Vec<&[u8]> = updates.iter().map(Vec::as_slice).collect();
            match yrs::merge_updates_v1(&parts) {
                Ok(merged) => sync.handle_local_update(&merged),
                Err(_) => parts
                    .iter()
                    .for_each(|update| sync.handle_local_update(update)),
            }
        }
    }
}

/// Sends the frames the sync client has queued, and a ping if `ping`. Not cancel-safe (a frame
/// taken from the queue is lost with the future), which is fine where it is dropped: on
/// shutdown, or before a reconnect, whose state-vector exchange sends everything again.
async fn flush(
    socket: &mut Socket,
    sync: &mut SyncClient,
    ping: bool,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut wrote = false;
    if ping {
        socket.feed(Message::Ping(Bytes::new())).await?;
        wrote = true;
    }
    while let Some(frame) = sync.poll_outgoing() {
        socket.feed(Message::Binary(frame)).await?;
        wrote = true;
    }
    if wrote {
        socket.flush().await?;
    }
    Ok(())
}

/// Starts the close handshake and waits for the server's answer, for [`CLOSE_WAIT`] at most
/// in all: a server that stopped reading cannot take even the close frame.
async fn close(socket: &mut Socket, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let closing = async {
        if socket.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = socket.next().await {}
        }
    };
    if tokio::time::timeout(CLOSE_WAIT, closing).await.is_err() {
        debug!("the server did not finish the close handshake");
    }
}
