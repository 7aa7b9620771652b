//! Quire's server: axum + tokio around the sans-IO `crdt-core` rooms.
//!
//! Layout:
//! - `app`: the shared state, the router, bind/run/shutdown of the whole server.
//! - `admission`: origin, token and limits checks, the same for every way in.
//! - `limits`: connection counts per server and per address, message rates.
//! - `http`: the `/api` routes (export, update, list, delete, versions) and OpenAPI.
//! - `socket_loop`: the loop every WebSocket connection runs, whatever its protocol
//!   (keepalive, rate limit, batching writes, slow clients, shutdown, close codes).
//! - `connection`: the `/ws` endpoint: one y-websocket connection per room.
//! - `hocuspocus`: the `/hocuspocus` endpoint: Hocuspocus providers, many documents per socket.
//! - [`room`]: the room engine: registry, named commands, queues, the sans-IO owner of each
//!   room and the task around it, sleep, and the one way to the store (group commit).
//! - `changes`: the change feed: events recorded in the store's change log (debounced per
//!   document), delivered by `webhooks` and streamed at `/api/changes`.
//! - `webhooks`: signed, retried delivery of change events to configured URLs.
//! - `room_name`: which room names are accepted.
//! - [`close_code`]: the WebSocket close codes Quire sends (defined in `crdt-core`, shared with
//!   the Rust client).
//! - [`auth`]: access tokens (HS256 JWTs) and what they grant.
//! - `api_error`: JSON error bodies.
//! - `tls`: serving https/wss directly with rustls.
//! - `telemetry`: metric names and the Prometheus rendering at `/metrics`.
//! - `web_assets`: the browser editor (`client-web/dist`), embedded in the binary.
//! - [`websocket`]: our own WebSocket upgrade (shared admission steps) and fragmented sends.
//! - [`config`]: settings from flags and `QUIRE_*` variables.
//! - [`logging`]: log output to stderr, pretty or JSON lines.

pub(crate) mod admission;
pub(crate) mod api_error;
pub(crate) mod app;
pub mod auth;
pub(crate) mod changes;
pub(crate) mod cluster;
pub mod config;
pub(crate) mod connection;
pub(crate) mod hocuspocus;
pub(crate) mod http;
pub(crate) mod limits;
pub mod logging;
pub mod room;
pub(crate) mod room_name;
pub(crate) mod socket_loop;
pub(crate) mod telemetry;
pub(crate) mod tls;
pub(crate) mod web_assets;
pub(crate) mod webhooks;
pub mod websocket;

pub use app::{AppState, Server, ServerError, router};
pub use config::ServeConfig;
pub use crdt_core::close_code;
pub use room::{Durability, Storage};

// The binary, the benches and the tests use what is public above: `Server` and its config,
// `router` and `AppState` (the API without a socket), tokens (`auth`), settings and logs,
// the room engine (`room`, for storage benches) and fragment sizes (`websocket`). Everything
// else is the server's own.
