//! What the commands that talk to a running server (`quire sync`, `cat`, `put`) share: how they
//! name a document, their errors, and their logging.
//!
//! They are clients, built on `quire-client` like any Rust editor plugin would be: they speak
//! the WebSocket sync protocol rather than the HTTP API, so they work through the same token,
//! proxy and reconnect rules as every editor, and `quire sync` stays live.

use std::path::PathBuf;
use std::time::Duration;

use quire_client::{ClientError, Endpoint, EndpointError, MirrorError, ReconnectPolicy};
use tracing_subscriber::EnvFilter;

/// Why a remote command failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server URL and document id do not make an address.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The connection to the server failed for good.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The file mirror stopped.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    /// The file to put could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The file to put is not UTF-8 text.
    #[error("{} is not UTF-8 text", .path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// SIGINT or SIGTERM arrived before the command finished.
    #[error("interrupted")]
    Interrupted,
    /// The text could not be written to standard output.
    #[error("cannot write to standard output: {0}")]
    Output(#[source] std::io::Error),
}

/// The address of `document` on `server`, with `token` if given.
pub fn endpoint(
    server: &str,
    document: &str,
    token: Option<&str>,
) -> Result<Endpoint, RemoteError> {
    Ok(Endpoint::new(server, document, token)?)
}

/// A one-shot command retries briefly (a server restarting, 1013 while it is busy) and then
/// says what went wrong, instead of hanging like a live mirror would.
pub fn one_shot_policy() -> ReconnectPolicy {
    ReconnectPolicy {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        max_failed_attempts: Some(5),
    }
}

/// Logs to stderr, filtered by `RUST_LOG`, else at `default` (stdout may carry a document).
pub fn init_logging(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
