//! Queueing binary messages on a socket, the large ones as fragments.
//!
//! tungstenite copies every outgoing frame into the connection's write buffer and keeps that
//! buffer's capacity for the connection's life. A message larger than [`FRAGMENT_BYTES`] is
//! therefore sent as a fragmented WebSocket message (RFC 6455 section 5.4): a first binary frame
//! without FIN, continuation frames, and a last one with FIN. The sink accepts the next fragment
//! only once what it holds fits its write buffer (or has been written), so a connection never
//! buffers more than its write-buffer size plus one fragment. Fragments are slices of the shared
//! `Bytes`: the room encodes a message once and no connection copies it whole. Every WebSocket
//! client reassembles fragments before handing a message on, so y-websocket and Hocuspocus
//! providers see one message as before.
//!
//! Only one task writes a socket and it finishes a message before starting the next, so data
//! frames of two messages never interleave; the control frames tungstenite may slip between
//! fragments (pong, close) are allowed there by the RFC.
//!
//! To a client that agreed to permessage-deflate, a message of at least 1 KiB that deflate
//! shrinks goes compressed: its first frame has RSV1 set (RFC 7692 section 6). The compressed
//! bytes belong to the [`SharedMessage`], so a broadcast is compressed once for all receivers.

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Error, Message};
use websocket_deflate::{SharedMessage, compress};

use crate::telemetry;

/// Payload bytes per fragment of a large message. Small enough that the write buffer stays near
/// its configured size while one is buffered; large enough that the per-frame cost (a header of
/// at most 10 bytes, one pass through the sink) is negligible. In W4 (5,000 joiners of a 333 KB
/// document, with a 64 KiB write buffer) 16 and 64 KiB did not differ beyond the run-to-run
/// noise; a buffer peaks near write buffer size plus one fragment, so with the 16 KiB write
/// buffer now used the smaller fragment keeps each connection's buffer near 32 KiB.
pub const FRAGMENT_BYTES: usize = 16 * 1024;

/// Queues `message` on `sink` as one binary message, compressed if `deflate` (the client agreed
/// to it) and the message gains from it, in fragments when it is larger than
/// [`FRAGMENT_BYTES`]. Like `SinkExt::feed`: the caller flushes.
pub async fn feed_binary<S>(
    sink: &mut S,
    message: SharedMessage,
    deflate: bool,
) -> Result<(), Error>
where
    S: Sink<Message, Error = Error> + Unpin,
{
    if deflate && let Some(compressed) = message.compressed_by(compress_counted).await {
        telemetry::COMPRESSED_SENT.count(message.len(), compressed.len());
        return feed_frames(sink, compressed.clone(), FRAGMENT_BYTES, true).await;
    }
    feed_plain(sink, message.into_bytes(), FRAGMENT_BYTES).await
}

/// Queues `message` on `sink` as it is (a reply for one connection that agreed to no
/// compression: no slot to allocate), in fragments when it is larger than [`FRAGMENT_BYTES`].
pub async fn feed_bytes<S>(sink: &mut S, message: Bytes) -> Result<(), Error>
where
    S: Sink<Message, Error = Error> + Unpin,
{
    feed_plain(sink, message, FRAGMENT_BYTES).await
}

/// Messages at least this long are compressed on the blocking pool rather than on the
/// connection's worker thread, where they would hold up every other task on it.
const BLOCKING_COMPRESSION_BYTES: usize = 64 * 1024;

/// Compresses a message for the first connection that sends it compressed (a large one on the
/// blocking pool), and counts it.
async fn compress_counted(message: Bytes) -> Option<Vec<u8>> {
    metrics::counter!(telemetry::COMPRESSIONS).increment(1);
    if message.len() < BLOCKING_COMPRESSION_BYTES {
        return compress(&message);
    }
    tokio::task::spawn_blocking(move || compress(&message))
        .await
        .ok()
        .flatten()
}

/// `message` as it is, in fragments of `fragment_bytes` when it is longer.
async fn feed_plain<S>(sink: &mut S, message: Bytes, fragment_bytes: usize) -> Result<(), Error>
where
    S: Sink<Message, Error = Error> + Unpin,
{
    if message.len() <= fragment_bytes {
        return sink.feed(Message::Binary(message)).await;
    }
    feed_frames(sink, message, fragment_bytes, false).await
}

/// `payload` as the frames of one binary message, the first marked compressed if `compressed`.
async fn feed_frames<S>(
    sink: &mut S,
    payload: Bytes,
    fragment_bytes: usize,
    compressed: bool,
) -> Result<(), Error>
where
    S: Sink<Message, Error = Error> + Unpin,
{
    let mut since_yield = 0;
    for frame in fragments(payload, fragment_bytes, compressed) {
        since_yield += frame.len();
        sink.feed(Message::Frame(frame)).await?;
        if since_yield >= YIELD_AFTER_BYTES {
            // A socket that takes everything would let one large message keep the worker for
            // milliseconds; every other connection's small frames wait that long (issue #20).
            since_yield = 0;
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

/// How much of a large message a connection writes before it lets the worker's other tasks
/// run: about 50 µs of copying, so a small update waits at most that long behind a 1 MB one.
const YIELD_AFTER_BYTES: usize = 64 * 1024;

/// The frames of one binary message cut into payloads of at most `fragment_bytes`; RSV1 set on
/// the first if the payload is `compressed`.
fn fragments(
    mut message: Bytes,
    fragment_bytes: usize,
    compressed: bool,
) -> impl Iterator<Item = Frame> {
    let mut first = true;
    std::iter::from_fn(move || {
        if message.is_empty() && !first {
            return None;
        }
        let payload = message.split_to(fragment_bytes.min(message.len()));
        let opcode = if first {
            OpCode::Data(Data::Binary)
        } else {
            OpCode::Data(Data::Continue)
        };
        let mut frame = Frame::message(payload, opcode, message.is_empty());
        frame.header_mut().rsv1 = first && compressed;
        first = false;
        Some(frame)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(message: &[u8], fragment_bytes: usize) -> Vec<(OpCode, bool, Vec<u8>)> {
        fragments(Bytes::copy_from_slice(message), fragment_bytes, false)
            .map(|frame| {
                let header = frame.header();
                (header.opcode, header.is_final, frame.payload().to_vec())
            })
            .collect()
    }

    #[test]
    fn a_message_is_cut_into_binary_then_continuation_frames_the_last_one_final() {
        let message: Vec<u8> = (0..10u8).collect();
        let binary = OpCode::Data(Data::Binary);
        let continuation = OpCode::Data(Data::Continue);
        assert_eq!(
            parts(&message, 4),
            vec![
                (binary, false, vec![0, 1, 2, 3]),
                (continuation, false, vec![4, 5, 6, 7]),
                (continuation, true, vec![8, 9]),
            ]
        );
        assert_eq!(
            parts(&message[..8], 4),
            vec![
                (binary, false, vec![0, 1, 2, 3]),
                (continuation, true, vec![4, 5, 6, 7]),
            ]
        );
    }

    #[test]
    fn a_compressed_message_marks_its_first_frame_only() {
        let frames: Vec<(bool, bool)> = fragments(Bytes::from_static(b"0123456789"), 4, true)
            .map(|frame| (frame.header().rsv1, frame.header().is_final))
            .collect();
        assert_eq!(frames, [(true, false), (false, false), (false, true)]);
        let single: Vec<bool> = fragments(Bytes::from_static(b"012"), 4, true)
            .map(|frame| frame.header().rsv1)
            .collect();
        assert_eq!(
            single,
            [true],
            "a short compressed message is one marked frame"
        );
    }

    #[tokio::test]
    async fn large_messages_go_compressed_only_where_compression_was_agreed() {
        let message = SharedMessage::new(Bytes::from(vec![b'a'; 50_000]));
        for deflate in [true, false] {
            let mut sent = Vec::new();
            let mut sink = (&mut sent).sink_map_err(|never| match never {});
            feed_binary(&mut sink, message.clone(), deflate)
                .await
                .unwrap();
            let first = match &sent[0] {
                Message::Frame(frame) => frame.header().rsv1,
                _ => false,
            };
            let payload: usize = sent
                .iter()
                .map(|message| match message {
                    Message::Frame(frame) => frame.payload().len(),
                    Message::Binary(bytes) => bytes.len(),
                    _ => 0,
                })
                .sum();
            assert_eq!(first, deflate);
            if deflate {
                assert!(payload < 1_000, "compressed to {payload} bytes");
            } else {
                assert_eq!(payload, 50_000);
            }
        }
    }

    #[tokio::test]
    async fn only_messages_longer_than_a_fragment_are_fragmented() {
        let mut sent = Vec::new();
        let mut sink = (&mut sent).sink_map_err(|never| match never {});
        feed_plain(&mut sink, Bytes::from_static(b"four"), 4)
            .await
            .unwrap();
        feed_plain(&mut sink, Bytes::from_static(b"five!"), 4)
            .await
            .unwrap();
        let kinds: Vec<&str> = sent
            .iter()
            .map(|message| match message {
                Message::Binary(_) => "binary",
                Message::Frame(_) => "fragment",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["binary", "fragment", "fragment"]);
    }
}
