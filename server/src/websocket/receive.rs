//! Inflating the messages a client sent compressed (permessage-deflate, RFC 7692).
//!
//! tungstenite assembles a message from its frames, and the scan under it has recorded whether
//! the message was compressed (see the `websocket-deflate` crate). Every data message the loop
//! reads takes its mark here, in order, whether it is then used or refused. Inflation is bounded
//! by `--max-message-bytes`, the same limit an uncompressed message meets.

use bytes::Bytes;
use websocket_deflate::{CompressedMarks, InflateError, inflate};

use crate::telemetry;

/// The message the client meant by `message`: inflated if it arrived compressed. A connection
/// without compression (`deflate` is `None`) gets `message` back as it is.
pub fn received(
    message: Bytes,
    deflate: Option<&CompressedMarks>,
    max_message_bytes: usize,
) -> Result<Bytes, InflateError> {
    if !deflate.is_some_and(CompressedMarks::take) {
        return Ok(message);
    }
    let inflated = inflate(&message, max_message_bytes)?;
    telemetry::record_compressed("received", inflated.len(), message.len());
    Ok(Bytes::from(inflated))
}

/// Passes over a data message that is refused unread (a text message), so the next message
/// takes its own mark.
pub fn skip(deflate: Option<&CompressedMarks>) {
    if let Some(marks) = deflate {
        marks.take();
    }
}
