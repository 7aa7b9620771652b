//! Support for Quire's end-to-end tests (`tests/tests/*.rs`).
//!
//! [`TestServer`] runs the real server in-process on `127.0.0.1:0` with its own data directory;
//! [`TestClient`] is a real WebSocket client around crdt-core's sans-IO [`crdt_core::SyncClient`],
//! the way y-websocket's provider behaves. Every wait reads the socket until the awaited event
//! happens; [`WAIT_LIMIT`] only turns a missing event into a failure instead of a hang.

mod client;
mod directory_store;
mod server;
mod transport;

pub use client::{CloseNotice, Event, TestClient};
pub use server::{HttpRefusal, TestServer, room_path};

use std::time::Duration;

/// Name of the shared text every test edits.
pub const TEXT: &str = "text";
/// Name of the shared map every test edits.
pub const MAP: &str = "map";
/// How long any single wait may take before the test fails; a guard, never a pause.
pub const WAIT_LIMIT: Duration = Duration::from_secs(10);
