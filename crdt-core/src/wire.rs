//! The y-protocols wire format as Quire uses it.
//!
//! Clients may pack several messages into one frame, so decoding yields every message in a frame.
//! Encoding is the other way round on purpose: the stock y-websocket client reads only the first
//! message of each frame, so every outgoing message becomes its own frame. Frames are [`Bytes`]
//! so one encoding can be shared by every recipient of a broadcast.
//!
//! The payloads yrs would allocate from (a SyncStep1's state vector, an awareness update) are
//! walked by [`crate::untrusted`] before yrs decodes the message; an awareness state must also
//! be JSON within [`FrameLimits::max_awareness_state_bytes`], or the frame is refused.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use yrs::encoding::read::Cursor;
use yrs::encoding::read::Read;
use yrs::encoding::write::Write;
use yrs::sync::Message;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_1, MSG_SYNC_UPDATE,
    PERMISSION_DENIED,
};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};

use crate::error::ProtocolError;
use crate::untrusted::{check_awareness_update, check_state_vector};

/// The default of [`FrameLimits::max_awareness_state_bytes`]: a user's name, colour and cursor
/// take a few hundred bytes.
pub const DEFAULT_MAX_AWARENESS_STATE_BYTES: usize = 64 * 1024;

/// What one frame may carry, beyond its size (which the transport limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest awareness state of one client, in bytes of JSON.
    pub max_awareness_state_bytes: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_awareness_state_bytes: DEFAULT_MAX_AWARENESS_STATE_BYTES,
        }
    }
}

/// Decodes every message in `frame`, in order, within the default [`FrameLimits`].
pub fn decode_frame(frame: &[u8]) -> Result<Vec<Message>, ProtocolError> {
    decode_frame_within(frame, &FrameLimits::default())
}

/// Decodes every message in `frame`, in order. A frame that does not decode to its last byte is
/// refused whole: `yrs`'s `MessageReader` takes a truncated message for the end of the frame,
/// which would silently drop what the client meant to send.
pub fn decode_frame_within(
    frame: &[u8],
    limits: &FrameLimits,
) -> Result<Vec<Message>, ProtocolError> {
    if frame.is_empty() {
        return Err(ProtocolError::EmptyFrame);
    }
    let mut cursor = Cursor::new(frame);
    let mut messages = Vec::with_capacity(1);
    while cursor.has_content() {
        let start = cursor.next;
        skip_message(&mut cursor, limits)?;
        let bytes = &frame[start..cursor.next];
        // yrs asserts (in debug builds) that client ids fit in 53 bits; a client can send any
        // id, so a panic in its decoder is this frame's fault, not the room's.
        let message = catch_unwind(AssertUnwindSafe(|| Message::decode_v1(bytes)))
            .map_err(|_| ProtocolError::UndecodableMessage)?
            .map_err(ProtocolError::MalformedMessage)?;
        messages.push(message);
    }
    Ok(messages)
}

/// Moves `cursor` past one message, reading only its framing (the layout `Message::decode`
/// reads), so the message's exact extent is known, and checks the payloads yrs would allocate
/// from. Updates are checked where they are applied.
fn skip_message(cursor: &mut Cursor<'_>, limits: &FrameLimits) -> Result<(), ProtocolError> {
    let malformed = ProtocolError::MalformedMessage;
    match cursor.read_var::<u8>().map_err(malformed)? {
        MSG_SYNC => {
            let step = cursor.read_var::<u8>().map_err(malformed)?;
            let payload = cursor.read_buf().map_err(malformed)?;
            if step == MSG_SYNC_STEP_1 {
                check_state_vector(payload)?;
            }
        }
        MSG_AWARENESS => {
            let payload = cursor.read_buf().map_err(malformed)?;
            check_awareness_update(payload, limits.max_awareness_state_bytes)?;
        }
        MSG_AUTH => {
            if cursor.read_var::<u8>().map_err(malformed)? == PERMISSION_DENIED {
                cursor.read_string().map_err(malformed)?;
            }
        }
        MSG_QUERY_AWARENESS => {}
        // The payload of any message type y-protocols may add later.
        _ => {
            cursor.read_buf().map_err(malformed)?;
        }
    }
    Ok(())
}

/// Encodes one message as one frame.
pub fn encode_frame(message: &Message) -> Bytes {
    Bytes::from(message.encode_v1())
}

/// Encodes a sync Update message around `update` without taking ownership of it, so the same
/// bytes can also be handed to storage.
pub fn encode_update_frame(update: &[u8]) -> Bytes {
    let mut encoder = EncoderV1::new();
    encoder.write_var(MSG_SYNC);
    encoder.write_var(MSG_SYNC_UPDATE);
    encoder.write_buf(update);
    Bytes::from(encoder.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::StateVector;
    use yrs::sync::SyncMessage;

    #[test]
    fn decodes_concatenated_messages_in_order() {
        let mut frame = encode_frame(&Message::Sync(SyncMessage::SyncStep1(
            StateVector::default(),
        )))
        .to_vec();
        frame.extend_from_slice(&encode_frame(&Message::AwarenessQuery));
        let messages = decode_frame(&frame).expect("valid frame");
        assert_eq!(messages.len(), 2);
        assert!(matches!(
            messages[0],
            Message::Sync(SyncMessage::SyncStep1(_))
        ));
        assert_eq!(messages[1], Message::AwarenessQuery);
    }

    #[test]
    fn update_frame_matches_the_generic_encoding() {
        let update = vec![1, 2, 3];
        let generic = encode_frame(&Message::Sync(SyncMessage::Update(update.clone())));
        assert_eq!(encode_update_frame(&update), generic);
    }

    #[test]
    fn empty_and_truncated_frames_are_errors() {
        assert!(matches!(decode_frame(&[]), Err(ProtocolError::EmptyFrame)));
        // A sync update announcing 10 bytes but carrying 1.
        assert!(matches!(
            decode_frame(&[0, 2, 10, 1]),
            Err(ProtocolError::MalformedMessage(_))
        ));
    }
}
