//! Refusing a connection the moment it is accepted, when the server or its address holds its
//! limit of connections.
//!
//! Limits are counted from accept, not from the WebSocket upgrade: a connection that never sends
//! a request holds a descriptor just as an open WebSocket does, so it must hold a place too. A
//! refused connection is answered before any HTTP is parsed, with the same JSON error (503
//! `too_many_connections`, or 429 `too_many_connections_from_address`) an upgrade refusal had,
//! written raw, then closed.
//!
//! Why the answer waits for the request: closing a socket whose request is still unread makes
//! Linux reset the connection, and a reset can destroy the response before the client reads it.
//! So the refused connection's request is read (up to [`REQUEST_READ_BYTES`], for at most
//! [`REFUSAL_LINGER`]) before the response is written. That keeps a refused connection's
//! descriptor for a moment, so at most [`MAX_LINGERING`] do so at once; past that, a refused
//! connection is closed without an answer, which is all a flood of them deserves.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::api_error::ApiError;

/// The most of a refused connection's request that is read before answering.
pub const REQUEST_READ_BYTES: usize = 8 * 1024;

/// The longest a refused connection is kept open to be answered.
pub const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Refused connections being answered at once.
pub const MAX_LINGERING: usize = 64;

/// Answers refused connections, a bounded number at a time.
#[derive(Debug, Clone)]
pub(crate) struct RefusalWriter {
    lingering: Arc<Semaphore>,
}

impl RefusalWriter {
    pub(crate) fn new() -> Self {
        RefusalWriter {
            lingering: Arc::new(Semaphore::new(MAX_LINGERING)),
        }
    }

    /// Answers `stream` with `refusal` in a task of its own, or closes it at once when too many
    /// refusals are being answered already. The refusal is counted either way.
    pub(crate) fn refuse(&self, stream: TcpStream, refusal: &ApiError) {
        crate::telemetry::record_refusal(refusal.code);
        let Ok(place) = Arc::clone(&self.lingering).try_acquire_owned() else {
            return;
        };
        let response = refusal.to_raw_response();
        tokio::spawn(async move {
            let _place = place;
            let _ = tokio::time::timeout(REFUSAL_LINGER, answer(stream, &response)).await;
        });
    }
}

/// Reads the request (so closing does not reset the connection), then writes `response` and
/// closes.
async fn answer(mut stream: TcpStream, response: &[u8]) -> std::io::Result<()> {
    let mut request = vec![0; REQUEST_READ_BYTES];
    let mut read = 0;
    while read < request.len() {
        let got = stream.read(&mut request[read..]).await?;
        if got == 0 {
            break;
        }
        read += got;
        if request[..read]
            .windows(4)
            .any(|window| window == b"\r\n\r\n")
        {
            break;
        }
    }
    stream.write_all(response).await?;
    stream.shutdown().await
}
