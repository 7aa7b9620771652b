//! Quire's server: axum + tokio around the sans-IO `crdt-core` rooms.
//!
//! Layout:
//! - [`app`]: routes, WebSocket upgrade, bind/run/shutdown of the whole server.
//! - [`connection`]: one task per WebSocket connection (keepalive, close codes, batching writes).
//! - [`rooms`]: the registry of rooms in memory, one owner task per room.
//! - [`room_task`]: the owner task of one room, fanning effects out to connections.
//! - [`room_name`]: which room names are accepted.
//! - [`close_code`]: the WebSocket close codes Quire sends.
//! - [`api_error`]: JSON error bodies.
//! - [`config`]: settings from flags and `QUIRE_*` variables.

pub mod api_error;
pub mod app;
pub mod close_code;
pub mod config;
pub mod connection;
pub mod room_name;
pub mod room_task;
pub mod rooms;

pub use app::{Server, ServerError};
pub use config::ServeConfig;
