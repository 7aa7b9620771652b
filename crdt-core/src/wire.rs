//! The y-protocols wire format as Quire uses it.
//!
//! Clients may pack several messages into one frame, so decoding yields every message in a frame.
//! Encoding is the other way round on purpose: the stock y-websocket client reads only the first
//! message of each frame, so every outgoing message becomes its own frame. Frames are [`Bytes`]
//! so one encoding can be shared by every recipient of a broadcast.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use yrs::encoding::read::Cursor;
use yrs::encoding::read::{Error as ReadError, Read};
use yrs::encoding::write::Write;
use yrs::sync::Message;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_SYNC_UPDATE, PERMISSION_DENIED,
};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};

use crate::error::ProtocolError;

/// Decodes every message in `frame`, in order. A frame that does not decode to its last byte is
/// refused whole: `yrs`'s `MessageReader` takes a truncated message for the end of the frame,
/// which would silently drop what the client meant to send.
pub fn decode_frame(frame: &[u8]) -> Result<Vec<Message>, ProtocolError> {
    if frame.is_empty() {
        return Err(ProtocolError::EmptyFrame);
    }
    let mut cursor = Cursor::new(frame);
    let mut messages = Vec::with_capacity(1);
    while cursor.has_content() {
        let start = cursor.next;
        skip_message(&mut cursor).map_err(ProtocolError::MalformedMessage)?;
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
/// reads), so the message's exact extent is known.
fn skip_message(cursor: &mut Cursor<'_>) -> Result<(), ReadError> {
    match cursor.read_var::<u8>()? {
        MSG_SYNC => {
            cursor.read_var::<u8>()?;
            cursor.read_buf()?;
        }
        MSG_AUTH => {
            if cursor.read_var::<u8>()? == PERMISSION_DENIED {
                cursor.read_string()?;
            }
        }
        MSG_QUERY_AWARENESS => {}
        // Awareness, and the payload of any message type y-protocols may add later.
        _ => {
            cursor.read_buf()?;
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
