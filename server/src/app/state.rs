//! What every request handler shares, and how it is built.
//!
//! Built from settings and a store, with no socket: the server binds a listener around it, and
//! tests drive the router over it directly (a [`storage::MemoryStore`] will do), so the HTTP API
//! is tested in Rust without a network.

use std::sync::Arc;

use storage::DocStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Authenticator;
use crate::cluster::Cluster;
use crate::config::ServeConfig;
use crate::limits::ConnectionLimits;
use crate::room::{RoomRegistry, Storage};
use crate::telemetry;

/// State shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    pub(crate) config: Arc<ServeConfig>,
    pub(crate) registry: RoomRegistry,
    pub(crate) storage: Storage,
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    /// Open connections, in total and per address.
    pub(crate) connection_limits: Arc<ConnectionLimits>,
    /// Checks tokens; `None` when Quire runs open (no `--auth-secret`).
    pub(crate) authenticator: Option<Authenticator>,
    /// The link to the other nodes, with `--cluster`.
    pub(crate) cluster: Option<Cluster>,
}

impl AppState {
    /// The state of a server with `config`, storing in `store`, stopped by `shutdown`: starts
    /// the storage writer and an empty room registry.
    pub fn new(config: ServeConfig, store: Arc<dyn DocStore>, shutdown: CancellationToken) -> Self {
        telemetry::prometheus();
        let tracker = TaskTracker::new();
        let storage = Storage::start(store, config.storage_settings());
        // The URL was checked when parsed (and by `Server::bind`).
        let cluster = config.cluster.as_deref().and_then(|url| {
            Cluster::start(url, shutdown.clone(), &tracker)
                .inspect_err(|error| tracing::error!(%error, "running without the cluster link"))
                .ok()
        });
        let registry =
            RoomRegistry::new(&config, storage.clone(), cluster.clone(), tracker.clone());
        if let Some(journal) = storage.journal() {
            // Tracked, so shutdown waits for it to announce the windows still open.
            tracker.spawn(crate::changes::run_emitter(
                journal.clone(),
                shutdown.clone(),
            ));
            crate::webhooks::start(
                journal.clone(),
                crate::webhooks::WebhookSettings::of(&config),
                shutdown.clone(),
            );
        }
        AppState {
            authenticator: config.auth_secret.as_deref().map(Authenticator::new),
            connection_limits: ConnectionLimits::new(
                config.max_connections,
                config.max_connections_per_ip,
            ),
            config: Arc::new(config),
            registry,
            storage,
            tracker,
            shutdown,
            cluster,
        }
    }

    /// The rooms in memory.
    pub fn rooms(&self) -> &RoomRegistry {
        &self.registry
    }
}
