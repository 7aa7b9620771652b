//! Quire's server: axum + tokio around the sans-IO `crdt-core` rooms.
//!
//! Layout:
//! - [`app`]: routes, the `/ws` upgrade handler, bind/run/shutdown of the whole server.
//! - [`limits`]: connection counts per server and per address, message rates.
//! - [`http`]: the `/api` routes (export, update, list, delete, versions) and OpenAPI.
//! - [`connection`]: one task per WebSocket connection (keepalive, close codes, batching writes).
//! - [`hocuspocus`]: the `/hocuspocus` endpoint: Hocuspocus providers, many documents per socket.
//! - [`frame_queue`]: the bounded queue of frames a room sends one connection, cheap when idle.
//! - [`rooms`]: the registry of rooms in memory, one owner task per room.
//! - [`command_queue`]: the bounded queue a room takes commands from, cheap when idle.
//! - [`room_command`]: what a room task can be asked (join, frames, reads, edits, delete).
//! - [`room_task`]: the owner task of one room: batches, durable-before-visible, fan-out.
//! - [`room_sleep`]: a room whose idle document is let go of while its clients stay connected.
//! - [`room_storage`]: loading a room's document and compacting its log.
//! - [`persistence`]: the group-commit writer thread all rooms persist through.
//! - [`room_name`]: which room names are accepted.
//! - [`close_code`]: the WebSocket close codes Quire sends.
//! - [`auth`]: access tokens (HS256 JWTs) and what they grant.
//! - [`api_error`]: JSON error bodies.
//! - [`tls`]: serving https/wss directly with rustls.
//! - [`telemetry`]: metric names and the Prometheus rendering at `/metrics`.
//! - [`web_assets`]: the browser editor (`client-web/dist`), embedded in the binary.
//! - [`websocket`]: our own WebSocket upgrade (shared admission steps) and fragmented sends.
//! - [`config`]: settings from flags and `QUIRE_*` variables.
//! - [`logging`]: log output to stderr, pretty or JSON lines.

pub mod api_error;
pub mod app;
pub mod auth;
pub mod close_code;
pub mod command_queue;
pub mod config;
pub mod connection;
pub mod frame_queue;
pub mod hocuspocus;
pub mod http;
pub mod limits;
pub mod logging;
pub mod persistence;
pub mod room_command;
pub mod room_name;
pub mod room_sleep;
pub mod room_storage;
pub mod room_task;
pub mod rooms;
pub mod telemetry;
pub mod tls;
pub mod web_assets;
pub mod websocket;

pub use app::{Server, ServerError};
pub use config::ServeConfig;
pub use persistence::Durability;
