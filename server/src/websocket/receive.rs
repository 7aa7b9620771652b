//! Inflating the messages a client sent compressed (permessage-deflate, RFC 7692).
//!
//! tungstenite assembles a message from its frames, and the scan under it has recorded whether
//! the message was compressed (see the `websocket-deflate` crate). Every data message the loop
//! reads takes its mark here, in order, whether it is then used or refused. The loop counts a
//! compressed message against the connection's rate limits before inflating it (a connection
//! over its rate is closed without the work), then charges what inflating added. Inflation is
//! bounded by `--max-message-bytes`, the same limit an uncompressed message meets.

use bytes::Bytes;
use websocket_deflate::{CompressedMarks, InflateError, inflate};

use crate::telemetry;

/// Whether the data message just read arrived compressed (never, on a connection without
/// compression). Takes the message's mark: call it once per data message, in order.
pub fn arrived_compressed(deflate: Option<&CompressedMarks>) -> bool {
    deflate.is_some_and(CompressedMarks::take)
}

/// `message` (a compressed message's payload) inflated, if it inflates to at most
/// `max_message_bytes`.
pub fn inflate_received(message: &Bytes, max_message_bytes: usize) -> Result<Bytes, InflateError> {
    let inflated = inflate(message, max_message_bytes)?;
    telemetry::COMPRESSED_RECEIVED.count(inflated.len(), message.len());
    Ok(Bytes::from(inflated))
}
