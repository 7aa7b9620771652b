//! The `quire` binary's commands besides `serve`.
//!
//! Offline commands work on a data directory while no server runs. They live in the binary
//! rather than the server library because they are an operator's tools, not part of serving:
//! they open the store directly, print for a terminal, and exit. The data directory's lock is
//! what keeps them from racing a running server: opening fails fast with a message saying the
//! directory is in use instead of waiting for it.
//!
//! Remote commands talk to a running server over the sync protocol, as any editor would, through
//! `quire-client`.
//!
//! Layout:
//! - [`documents`]: `quire docs list | export | compact`, their flags and what they print.
//! - [`offline_store`]: opening the store and loading one document, with operator-facing errors.
//! - [`error`]: everything an offline command can fail with.
//! - [`token`]: `quire token`, minting access tokens with the server's secret.
//! - [`sync`]: `quire sync`, a file kept equal to a document's text, live.
//! - [`cat`]: `quire cat`, printing a document's text.
//! - [`put`]: `quire put`, setting a document's text from a file.
//! - [`remote`]: what the remote commands share (addresses, errors, logging).

pub mod cat;
pub mod documents;
pub mod error;
pub mod offline_store;
pub mod put;
pub mod remote;
pub mod sync;
pub mod token;
