//! A Rust client for Quire, and for any server speaking y-websocket's protocol: a tokio
//! transport around crdt-core's sans-IO [`crdt_core::SyncClient`], and a file mirror built on it.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use quire_client::{Client, Endpoint, ReconnectPolicy};
//! use yrs::{GetString, Text, Transact};
//!
//! let endpoint = Endpoint::new("http://127.0.0.1:8080", "notes", None)?;
//! let mut client = Client::connect(endpoint, ReconnectPolicy::default());
//! client.wait_synced().await?;
//! let text = client.text();
//! text.insert(&mut client.doc().transact_mut(), 0, "hello ");
//! client.wait_stored().await?;
//! println!("{}", text.get_string(&client.doc().transact()));
//! client.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Layout:
//! - [`client`]: [`Client`], the handle, and its task's reconnect loop.
//! - [`session`]: one connection's life, driving the sans-IO client.
//! - [`status`]: what the task publishes ([`Status`]) and shares with the document observer.
//! - [`reconnect`]: backoff with jitter, and which closes and refusals are final.
//! - [`endpoint`]: server URL + document id + token → WebSocket address.
//! - [`mirror`]: [`FileMirror`], a file kept equal to a document's text (`quire sync`).
//! - [`text_diff`]: a new version of a text as the fewest CRDT edits.
//! - [`file_io`]: reading the mirrored file and replacing it atomically.
//! - [`watcher`]: noticing changes of the mirrored file.
//! - [`error`]: what each part can fail with.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod file_io;
pub mod mirror;
pub mod reconnect;
pub mod session;
pub mod status;
pub mod text_diff;
pub mod watcher;

pub use client::{Client, TEXT_NAME};
pub use endpoint::Endpoint;
pub use error::{ClientError, EndpointError, MirrorError};
pub use mirror::FileMirror;
pub use reconnect::ReconnectPolicy;
pub use status::{ConnectionState, Status};
pub use text_diff::apply_text_diff;
