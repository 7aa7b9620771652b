//! Why the server could not start, or stopped with an error.

use std::net::SocketAddr;

use crate::tls::TlsError;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The document store could not be opened (another process holds it, unknown format...).
    #[error("cannot open the data directory {path}: {source}")]
    Storage {
        path: std::path::PathBuf,
        #[source]
        source: storage::StoreError,
    },
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Webhooks are configured without the secret that signs them.
    #[error(
        "--webhook-url needs a non-empty --webhook-secret: receivers verify each request's \
         signature with it"
    )]
    WebhookWithoutSecret,
    /// `--webhook-url` with `--change-feed off`: webhooks send the change feed's events.
    #[error("--webhook-url needs the change feed: leave --change-feed at auto, or set it on")]
    WebhookWithoutChangeFeed,
    /// Serving failed.
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}
