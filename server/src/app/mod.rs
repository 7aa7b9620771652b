//! The HTTP face of Quire, by concept:
//! - [`state`]: what every handler shares ([`AppState`]), built without a socket.
//! - [`router`]: every route, plus health, readiness and metrics.
//! - [`server`]: binding the listener, serving, shutting down.
//! - [`listener`]: accepting connections: a place under the connection limits from accept, a
//!   deadline on each request's headers, a descriptor in reserve.
//! - [`accept_refusal`]: answering a connection refused at accept.
//! - [`read_ahead`]: large reads while a large message streams in.
//! - [`error`]: why the server could not start.
//!
//! Admission of requests (origin, token, refusals counted) is [`crate::admission`].

mod accept_refusal;
mod error;
pub(crate) mod listener;
mod read_ahead;
mod router;
mod server;
mod state;

pub use error::ServerError;
pub use router::router;
pub use server::Server;
pub use state::AppState;
