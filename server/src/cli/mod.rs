//! The `quire` binary's offline commands: working on a data directory while no server runs.
//!
//! They live in the binary rather than the server library because they are an operator's tools,
//! not part of serving: they open the store directly, print for a terminal, and exit. The data
//! directory's lock is what keeps them from racing a running server: opening fails fast with a
//! message saying the directory is in use instead of waiting for it.
//!
//! Layout:
//! - [`documents`]: `quire docs list | export | compact`, their flags and what they print.
//! - [`offline_store`]: opening the store and loading one document, with operator-facing errors.
//! - [`error`]: everything an offline command can fail with.
//! - [`token`]: `quire token`, minting access tokens with the server's secret.

pub mod documents;
pub mod error;
pub mod offline_store;
pub mod token;
