//! permessage-deflate (RFC 7692) for WebSockets served by tungstenite, which has no extensions
//! and refuses any frame with a reserved bit set.
//!
//! Browsers offer permessage-deflate on every connection, and a Yjs join is the whole document:
//! hundreds of KB of mostly names, keys and text that deflate well. The extension is added beside
//! tungstenite rather than by replacing it, so tungstenite still does all the framing, limits and
//! close handshakes the server's hostile-frame tests were written against:
//!
//! - [`negotiation`]: reading a client's offers and answering one. Quire always asks for
//!   `server_no_context_takeover` and `client_no_context_takeover`: every compressed message
//!   stands alone, so the server compresses a broadcast once for all its receivers, and keeps no
//!   compression window per connection.
//! - [`scanner`]: a sans-IO scan of the incoming byte stream that finds each message's first
//!   frame header, clears its RSV1 bit (so tungstenite accepts it) and records in
//!   [`CompressedMarks`] whether the message was compressed.
//! - [`marking`]: the scan as an `AsyncRead`/`AsyncWrite` wrapper around the socket.
//! - [`codec`]: compressing and inflating one message, bounded by the message size limit, on
//!   per-thread (de)compressors.
//! - [`shared`]: a message sent to many connections, compressed at most once.

pub mod codec;
pub mod marking;
pub mod negotiation;
pub mod scanner;
pub mod shared;

pub use codec::{InflateError, compress, inflate};
pub use marking::MarkingStream;
pub use negotiation::{Agreement, CLIENT_OFFER, negotiate};
pub use scanner::{CompressedMarks, FrameScanner};
pub use shared::{COMPRESSION_THRESHOLD, SharedMessage};
