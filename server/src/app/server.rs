//! The server's lifecycle: bind, serve, shut down.
//!
//! [`Server::bind`] opens the listener (so callers learn the real port before serving) and
//! [`Server::run`] serves until the shutdown token is cancelled, then waits, within the grace
//! period, for every connection and room task: axum does not wait for upgraded WebSockets on its
//! own, so they are tracked with a `TaskTracker`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use storage::{DatabaseClaim, DocStore, PostgresStore, Sharing, SledStore};
use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::error::ServerError;
use super::listener::PlainListener;
use super::router::router;
use super::state::AppState;
use crate::config::{ServeConfig, StoreLocation, mask_url_credentials};
use crate::room::RoomRegistry;
use crate::tls::{TlsError, TlsListener, load_acceptor};

/// Connections the kernel may hold completed but not yet accepted. tokio's default (1024)
/// overflowed thousands of times when 5,000 clients joined at once (W4 in docs/benchmarks.md), and
/// every dropped handshake was retried by its client only after 1 s, 3 s... The kernel caps it
/// at `net.core.somaxconn` (4096 on current kernels).
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`LISTEN_BACKLOG`]; address reuse as `TcpListener::bind` sets it,
/// so a restarted server gets its port back while old connections sit in TIME_WAIT.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Refuses webhooks that could not be signed.
fn check_webhooks(config: &ServeConfig) -> Result<(), ServerError> {
    // An empty secret would sign with an empty key: anyone could forge the signatures.
    let secret_missing = config
        .webhook_secret
        .as_deref()
        .is_none_or(|secret| secret.trim().is_empty());
    if !config.webhook_url.is_empty() && secret_missing {
        return Err(ServerError::WebhookWithoutSecret);
    }
    if !config.webhook_url.is_empty() && !config.runs_change_feed() {
        return Err(ServerError::WebhookWithoutChangeFeed);
    }
    Ok(())
}

/// The store `config` names, opened (and for PostgreSQL, its schema migrated and the database
/// claimed for this node, alone or in its cluster) off the async workers.
async fn open_store(
    config: &ServeConfig,
) -> Result<(Arc<dyn DocStore>, Option<DatabaseClaim>), ServerError> {
    match &config.store {
        StoreLocation::Sled => {
            let path = config.data_dir.clone();
            let cache_bytes = config.cache_bytes;
            let opened =
                tokio::task::spawn_blocking(move || SledStore::open_with_cache(&path, cache_bytes))
                    .await
                    .expect("opening the store does not panic");
            let store = opened.map_err(|source| ServerError::Storage {
                path: config.data_dir.clone(),
                source,
            })?;
            Ok((Arc::new(store), None))
        }
        StoreLocation::Postgres(url) => {
            let connecting = url.clone();
            let sharing = if config.cluster.is_some() {
                Sharing::Cluster
            } else {
                Sharing::Alone
            };
            let connected = tokio::task::spawn_blocking(move || {
                let store = PostgresStore::connect(&connecting)?;
                let claim = store.claim(sharing)?;
                Ok((store, claim))
            })
            .await
            .expect("connecting to the store does not panic");
            let (store, claim) = connected.map_err(|source| ServerError::Database {
                url: mask_url_credentials(url),
                source,
            })?;
            info!(url = %mask_url_credentials(url), "documents are stored in PostgreSQL");
            Ok((Arc::new(store), Some(claim)))
        }
    }
}

/// A server with its listener open.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    /// Set when serving https/wss directly.
    tls: Option<TlsAcceptor>,
    /// This node's claim on a PostgreSQL store, held while it serves.
    claim: Option<DatabaseClaim>,
}

impl Server {
    /// Opens the store (`--store`: sled in `config.data_dir`, or PostgreSQL) and the listener on
    /// `config.addr`; `shutdown` stops the server when cancelled.
    pub async fn bind(
        config: ServeConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, ServerError> {
        check_webhooks(&config)?;
        if config.cluster.is_some() && config.store == StoreLocation::Sled {
            return Err(ServerError::ClusterNeedsSharedStore);
        }
        if config.durability == crate::room::Durability::Relaxed
            && config.store != StoreLocation::Sled
        {
            return Err(ServerError::RelaxedNeedsSled);
        }
        let (store, claim) = open_store(&config).await?;
        if config.runs_change_feed() && store.change_log().is_none() {
            return Err(ServerError::NoChangeLog);
        }
        let mut server = Self::bind_with_store(config, store, shutdown).await?;
        server.claim = claim;
        Ok(server)
    }

    /// Like [`Server::bind`], over a store of the caller's choosing.
    pub async fn bind_with_store(
        config: ServeConfig,
        store: Arc<dyn DocStore>,
        shutdown: CancellationToken,
    ) -> Result<Self, ServerError> {
        check_webhooks(&config)?;
        let listener = listen(config.addr).map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(certificate), Some(key)) => Some(load_acceptor(certificate, key)?),
            (None, None) => None,
            _ => return Err(TlsError::Incomplete.into()),
        };
        if config.auth_secret.is_none() {
            warn!(
                "no --auth-secret: anyone who can reach this server can read and edit every document"
            );
        }
        Ok(Server {
            listener,
            tls,
            state: AppState::new(config, store, shutdown),
            claim: None,
        })
    }

    /// The rooms in memory (to observe loading and unloading).
    pub fn rooms(&self) -> RoomRegistry {
        self.state.registry.clone()
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until shutdown, then waits for connections and rooms to finish.
    pub async fn run(self) -> Result<(), ServerError> {
        let Server {
            listener,
            state,
            tls,
            claim: _claim,
        } = self;
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!(
            "listening on {scheme}://{}",
            listener.local_addr().map_err(ServerError::Serve)?
        );
        let shutdown = state.shutdown.clone();
        let tracker = state.tracker.clone();
        let storage = state.storage.clone();
        let grace = state.config.shutdown_grace();
        let flush_limit = state.config.storage_settings().flush_timeout;
        let handshake_timeout = state.config.handshake_timeout();
        let limits = state.connection_limits.clone();
        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        // Once shutdown begins, WebSockets close with 1001 and /readyz answers 503 at once, but
        // the listener stays open a moment longer so load balancers polling readiness see the
        // flip and stop sending traffic before connections are refused.
        let drain = grace / 5;
        let stop_listening = async move {
            shutdown.cancelled().await;
            tokio::time::sleep(drain).await;
        };
        match tls {
            Some(acceptor) => {
                let stop_accepting = CancellationToken::new();
                let listener = TlsListener::new(
                    listener,
                    acceptor,
                    handshake_timeout,
                    limits,
                    stop_accepting.clone(),
                )
                // TapIo is what axum gives connection info for; TCP_NODELAY is set inside.
                .tap_io(|_| {});
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stop_listening)
                    .await;
                stop_accepting.cancel();
                served.map_err(ServerError::Serve)?;
            }
            None => {
                // TapIo is what axum gives connection info for; TCP_NODELAY is set inside.
                let listener =
                    PlainListener::new(listener, handshake_timeout, limits).tap_io(|_| {});
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop_listening)
                    .await
                    .map_err(ServerError::Serve)?;
            }
        }
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(
                ?grace,
                "shutdown grace period over with tasks still running"
            );
        }
        // Every accepted update was flushed before it was shown; this covers relaxed mode and
        // the compactions of rooms that just closed. Not when storage takes no writes (it could
        // not, and a failed sled's flush never returns), and never longer than a flush may take.
        if !storage.health().refuses_writes() {
            let limit = flush_limit;
            match tokio::time::timeout(limit, storage.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "final flush failed"),
                Err(_) => warn!(?limit, "final flush did not return in time"),
            }
        }
        info!("stopped");
        Ok(())
    }
}
