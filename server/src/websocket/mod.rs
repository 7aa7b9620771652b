//! The WebSocket layer under both endpoints (`/ws/...` and `/hocuspocus`): Quire's own upgrade
//! of an HTTP request, and sending large messages in fragments.
//!
//! Why not axum's `WebSocketUpgrade`: its `Message` has no way to send a raw frame, so every
//! message leaves as one frame, and tungstenite copies a whole frame into the connection's own
//! write buffer before writing it. A joiner's first message is the whole document (hundreds of
//! KB, the same shared bytes for every joiner), so each connection grew and kept a buffer the
//! size of the document: 5,000 joiners held ~1.6 GB and spent most of their kernel time faulting
//! those pages in (W4 in docs/benchmarks.md). Sending a large message as fragments of
//! [`send::FRAGMENT_BYTES`] bounds a connection's write buffer to its configured size plus one
//! fragment, whatever the document's size; fragments are slices of the shared bytes.
//!
//! - [`handshake`]: validating an upgrade request (RFC 6455 section 4.2.1) and refusing a bad
//!   one with a JSON error, like every other refusal.
//! - [`upgrade`]: the admission steps both endpoints share (connection limits, handshake,
//!   shutdown) and switching the connection to a WebSocket task.
//! - [`send`]: queueing binary messages, fragmenting the large ones and compressing them for a
//!   client that agreed to permessage-deflate.
//! - [`receive`]: inflating the compressed messages a client sends.
//!
//! Compression (RFC 7692) lives beside tungstenite, in the `websocket-deflate` crate: the
//! handshake agrees on it, the socket is read through a `MarkingStream` that tells compressed
//! messages apart, and [`Socket::deflate`] carries what the connection's loop needs to inflate
//! them.

pub mod handshake;
pub mod receive;
pub mod send;
pub mod upgrade;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use websocket_deflate::{CompressedMarks, MarkingStream};

pub use handshake::{Handshake, HandshakeError};
pub use upgrade::{Admission, Refusal};

/// An upgraded connection as the connection tasks see it.
pub struct Socket {
    /// The WebSocket, read through a scan for compressed messages when compression was agreed.
    pub websocket: WebSocket,
    /// `Some` when the client agreed to permessage-deflate: which of its messages arrive
    /// compressed. Large messages to it may then be sent compressed.
    pub deflate: Option<CompressedMarks>,
}

/// The WebSocket of a [`Socket`].
pub type WebSocket = WebSocketStream<MarkingStream<TokioIo<Upgraded>>>;

/// The writing half of a [`WebSocket`].
pub type SocketSink =
    futures_util::stream::SplitSink<WebSocket, tokio_tungstenite::tungstenite::Message>;

/// The reading half of a [`WebSocket`].
pub type SocketStream = futures_util::stream::SplitStream<WebSocket>;
