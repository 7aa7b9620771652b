//! The HTTP face of Quire: routes, upgrade of WebSocket requests, and the server's lifecycle.
//!
//! [`Server::bind`] opens the listener (so callers learn the real port before serving) and
//! [`Server::run`] serves until the shutdown token is cancelled, then waits, within the grace
//! period, for every connection and room task: axum does not wait for upgraded WebSockets on its
//! own, so they are tracked with a `TaskTracker`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use crdt_core::Access;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::api_error::ApiError;
use crate::auth::{AccessLevel, AuthError, Authenticator};
use crate::config::ServeConfig;
use crate::connection::{ConnectionContext, serve_connection};
use crate::limits::ConnectionLimits;
use crate::room::RoomRegistry;
use crate::room::Storage;
use crate::room_name::validate_room_name;
use crate::telemetry;
use crate::tls::{TlsError, TlsListener, load_acceptor};
use crate::websocket::{Admission, Handshake, HandshakeError};
use storage::{DocStore, SledStore};
use tokio_rustls::TlsAcceptor;

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
    /// Serving failed.
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// State shared by every request handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) config: Arc<ServeConfig>,
    pub(crate) registry: RoomRegistry,
    pub(crate) storage: Storage,
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    /// Open connections, in total and per address.
    pub(crate) connection_limits: Arc<ConnectionLimits>,
    /// Checks tokens; `None` when Quire runs open (no `--auth-secret`).
    pub(crate) authenticator: Option<Authenticator>,
}

/// A server with its listener open.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    /// Set when serving https/wss directly.
    tls: Option<TlsAcceptor>,
}

impl Server {
    /// Opens the sled store in `config.data_dir` and the listener on `config.addr`; `shutdown`
    /// stops the server when cancelled.
    pub async fn bind(
        config: ServeConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, ServerError> {
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
        Self::bind_with_store(config, Arc::new(store), shutdown).await
    }

    /// Like [`Server::bind`], over a store of the caller's choosing.
    pub async fn bind_with_store(
        config: ServeConfig,
        store: Arc<dyn DocStore>,
        shutdown: CancellationToken,
    ) -> Result<Self, ServerError> {
        let listener = listen(config.addr).map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
        telemetry::prometheus();
        let tracker = TaskTracker::new();
        let storage = Storage::start(store, config.durability);
        let registry = RoomRegistry::new(&config, storage.clone(), tracker.clone());
        let authenticator = config.auth_secret.as_deref().map(Authenticator::new);
        let connection_limits =
            ConnectionLimits::new(config.max_connections, config.max_connections_per_ip);
        if authenticator.is_none() {
            warn!(
                "no --auth-secret: anyone who can reach this server can read and edit every document"
            );
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(certificate), Some(key)) => Some(load_acceptor(certificate, key)?),
            (None, None) => None,
            _ => return Err(TlsError::Incomplete.into()),
        };
        Ok(Server {
            listener,
            tls,
            state: AppState {
                config: Arc::new(config),
                registry,
                storage,
                tracker,
                shutdown,
                authenticator,
                connection_limits,
            },
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
                let listener = TlsListener::new(listener, acceptor, stop_accepting.clone())
                    // TapIo is what axum gives connection info for; TCP_NODELAY is set inside.
                    .tap_io(|_| {});
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stop_listening)
                    .await;
                stop_accepting.cancel();
                served.map_err(ServerError::Serve)?;
            }
            None => {
                let listener = listener.tap_io(|stream| {
                    // Yjs frames are small and latency-bound: Nagle would hold them back ~40 ms.
                    if let Err(error) = stream.set_nodelay(true) {
                        warn!(%error, "cannot set TCP_NODELAY");
                    }
                });
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
        // the compactions of rooms that just closed.
        if let Err(error) = storage.flush().await {
            warn!(%error, "final flush failed");
        }
        info!("stopped");
        Ok(())
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/ws/{*room}", get(upgrade_websocket))
        .route("/hocuspocus", get(crate::hocuspocus::upgrade))
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
        .merge(crate::http::api_routes(state.config.max_body_bytes))
        .merge(crate::web_assets::web_routes())
        .fallback(not_found)
        .with_state(state)
}

/// The query string of a WebSocket request: y-websocket sends its `params` here.
#[derive(serde::Deserialize)]
struct UpgradeQuery {
    token: Option<String>,
}

async fn upgrade_websocket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    room: Result<Path<String>, PathRejection>,
    query: Result<Query<UpgradeQuery>, QueryRejection>,
    headers: HeaderMap,
    handshake: Result<Handshake, HandshakeError>,
) -> Response {
    let room = match room {
        Ok(Path(room)) => room,
        Err(rejection) => {
            return ApiError::bad_request("invalid_room_name", rejection.body_text())
                .into_response();
        }
    };
    if let Err(error) = validate_room_name(&room) {
        return ApiError::bad_request("invalid_room_name", error.to_string()).into_response();
    }
    if let Err(refusal) = check_origin(&state.config.allowed_origins, &headers) {
        return refusal.into_response();
    }
    let token = query.ok().and_then(|Query(query)| query.token);
    // Checked before the upgrade: a refused client never receives a byte of the document.
    let access = match authorize(&state, token.as_deref(), &room, AccessLevel::Read) {
        Ok(AccessLevel::Read) => Access::ReadOnly,
        Ok(_) => Access::ReadWrite,
        Err(refusal) => return refusal.into_response(),
    };
    let admission = match Admission::admit(&state, peer, handshake) {
        Ok(admission) => admission,
        Err(refusal) => return refusal.into_response(),
    };
    let context = ConnectionContext {
        room,
        peer,
        access,
        registry: state.registry.clone(),
        config: state.config.clone(),
        shutdown: state.shutdown.clone(),
    };
    admission.accept(state.config.max_message_bytes, move |socket| {
        serve_connection(socket, context)
    })
}

/// Refuses a browser upgrade from an origin not in `allowed` (cross-site WebSocket hijacking);
/// requests without an `Origin` header come from non-browser clients and pass.
pub(crate) fn check_origin(allowed: &[String], headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return Ok(());
    };
    if allowed.is_empty()
        || allowed
            .iter()
            .any(|allowed| allowed.as_bytes() == origin.as_bytes())
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
        format!(
            "origin {} may not open WebSockets here",
            String::from_utf8_lossy(origin.as_bytes())
        ),
    ))
}

/// What `token` grants on document `id`, at least `needed`; everything when Quire runs open.
pub(crate) fn authorize(
    state: &AppState,
    token: Option<&str>,
    id: &str,
    needed: AccessLevel,
) -> Result<AccessLevel, ApiError> {
    let Some(authenticator) = &state.authenticator else {
        return Ok(AccessLevel::Admin);
    };
    authenticator
        .authorize(token, id, needed)
        .map_err(refusal_for)
}

/// 401 for who-are-you failures, 403 for not-allowed ones.
pub(crate) fn refusal_for(error: AuthError) -> ApiError {
    if error.is_unauthenticated() {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string())
    } else {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", error.to_string())
    }
}

/// Alive: the process answers.
async fn health() -> &'static str {
    "ok"
}

/// Ready: storage is open (it is for as long as the server runs) and connections are accepted;
/// 503 once shutdown has begun, so a load balancer stops sending traffic first.
async fn ready(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .into_response()
    } else {
        "ready".into_response()
    }
}

async fn render_metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::render(),
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}
