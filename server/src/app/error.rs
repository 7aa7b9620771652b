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
    /// The PostgreSQL store could not be reached or prepared (`url` without its password).
    #[error("cannot use the PostgreSQL store {url}: {source}")]
    Database {
        url: String,
        #[source]
        source: storage::StoreError,
    },
    /// The change feed (webhooks, `--change-feed on`) needs a store that keeps a change log.
    #[error(
        "the change feed (--webhook-url, --change-feed on) needs --store sled: the PostgreSQL \
         store keeps no change log yet"
    )]
    NoChangeLog,
    /// `--cluster` with the embedded store: nodes can only share documents they all reach.
    #[error("--cluster needs a store every node shares: --store postgres://...")]
    ClusterNeedsSharedStore,
    /// `--durability relaxed` with PostgreSQL: relaxed leaves flushing to sled's own timer,
    /// which a database transaction does not have.
    #[error("--durability relaxed needs --store sled: with PostgreSQL every batch is committed")]
    RelaxedNeedsSled,
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
