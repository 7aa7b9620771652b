//! One appended update as the append log stores it: a checksummed frame around the update's
//! ordinary record, naming the document it belongs to.
//!
//! ```text
//! u32 BE  length of everything after this field
//! u32 BE  CRC-32 of everything after this field
//! u64 BE  document number (the document's incarnation: a deleted and re-created id gets another)
//! u64 BE  milliseconds since the epoch when it was appended (the entry's `updated_at` on replay)
//! u16 BE  length of the document id
//!         the document id (UTF-8)
//!         the update record, exactly as sled would store it (`record`: kind, seq, its own CRC)
//! ```
//!
//! The document id is in the frame so that replay can find the document's entry without a
//! table from numbers to ids; the number is there so that frames of a deleted incarnation are
//! recognised as dead. Parsing never trusts a length it has not checked against the bytes it
//! already holds, and stops at the first frame that fails: past a torn or damaged frame the log
//! has no reliable boundaries.

use crate::record::{RecordKind, decode_record};
use crate::store::Seq;

/// Bytes before the document id: length, checksum, number, time, id length.
const FRAME_HEADER_LENGTH: usize = 4 + 4 + 8 + 8 + 2;

/// What the caller hands in to be framed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameFields<'a> {
    pub document_number: u64,
    pub appended_at_millis: u64,
    pub id: &'a str,
    /// An encoded update record (`encode_record(RecordKind::Update, ..)`).
    pub record: &'a [u8],
}

/// One frame read back from a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParsedFrame {
    pub document_number: u64,
    pub appended_at_millis: u64,
    pub id: String,
    pub seq: Seq,
    /// Payload bytes of the update (its record without the record header).
    pub payload_length: u64,
    /// Where the update record starts, from the start of the parsed bytes.
    pub record_offset: usize,
    /// Length of the update record.
    pub record_length: usize,
}

/// Appends the frame of `fields` to `buffer` and returns the offset of its record within
/// `buffer`. `None` if the id or the frame cannot be described by the header's fields (callers
/// validate ids and payload sizes first, so this is a last line of defence).
pub(crate) fn encode_frame(buffer: &mut Vec<u8>, fields: FrameFields<'_>) -> Option<usize> {
    let id_length = u16::try_from(fields.id.len()).ok()?;
    let body_length = FRAME_HEADER_LENGTH - 8 + fields.id.len() + fields.record.len();
    let length = u32::try_from(body_length + 4).ok()?;
    let start = buffer.len();
    buffer.extend_from_slice(&length.to_be_bytes());
    buffer.extend_from_slice(&[0; 4]);
    buffer.extend_from_slice(&fields.document_number.to_be_bytes());
    buffer.extend_from_slice(&fields.appended_at_millis.to_be_bytes());
    buffer.extend_from_slice(&id_length.to_be_bytes());
    buffer.extend_from_slice(fields.id.as_bytes());
    let record_offset = buffer.len();
    buffer.extend_from_slice(fields.record);
    let checksum = crc32fast::hash(&buffer[start + 8..]);
    buffer[start + 4..start + 8].copy_from_slice(&checksum.to_be_bytes());
    Some(record_offset)
}

/// Every frame in `bytes` up to the first that is torn, damaged or not an update, and the
/// number of bytes those frames cover.
pub(crate) fn parse_frames(bytes: &[u8]) -> (Vec<ParsedFrame>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some((frame, length)) = parse_one(&bytes[at..], at) {
        frames.push(frame);
        at += length;
    }
    (frames, at)
}

/// The frame at the start of `bytes` (which sit at `base` in the whole) and its length.
fn parse_one(bytes: &[u8], base: usize) -> Option<(ParsedFrame, usize)> {
    let length = u32::from_be_bytes(*bytes.first_chunk::<4>()?) as usize;
    let frame = bytes.get(..length.checked_add(4)?)?;
    let body = frame.get(8..)?;
    let stored = u32::from_be_bytes(*frame.get(4..8)?.first_chunk::<4>()?);
    if crc32fast::hash(body) != stored {
        return None;
    }
    let number_at = |offset: usize| -> Option<u64> {
        Some(u64::from_be_bytes(*body.get(offset..)?.first_chunk::<8>()?))
    };
    let document_number = number_at(0)?;
    let appended_at_millis = number_at(8)?;
    let id_length = u16::from_be_bytes(*body.get(16..)?.first_chunk::<2>()?) as usize;
    let id_end = 18usize.checked_add(id_length)?;
    let id = std::str::from_utf8(body.get(18..id_end)?).ok()?;
    let record = body.get(id_end..)?;
    let decoded = decode_record(record).ok()?;
    if decoded.kind != RecordKind::Update {
        return None;
    }
    let record_offset = base + 8 + id_end;
    Some((
        ParsedFrame {
            document_number,
            appended_at_millis,
            id: id.to_owned(),
            seq: decoded.seq,
            payload_length: decoded.payload.len() as u64,
            record_offset,
            record_length: record.len(),
        },
        frame.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode_record;

    fn framed(frames: &[(u64, &str, u64, &[u8])]) -> Vec<u8> {
        let mut buffer = Vec::new();
        for &(number, id, seq, payload) in frames {
            let record = encode_record(RecordKind::Update, Seq(seq), payload).unwrap();
            encode_frame(
                &mut buffer,
                FrameFields {
                    document_number: number,
                    appended_at_millis: 1_700_000_000_000 + seq,
                    id,
                    record: &record,
                },
            )
            .unwrap();
        }
        buffer
    }

    #[test]
    fn frames_round_trip_with_their_record_positions() {
        let bytes = framed(&[(7, "notes", 1, b"hello"), (9, "caf\u{e9}/x", 4, b"")]);
        let (frames, covered) = parse_frames(&bytes);
        assert_eq!(covered, bytes.len());
        assert_eq!(frames.len(), 2);
        assert_eq!(
            (frames[0].document_number, frames[0].id.as_str()),
            (7, "notes")
        );
        assert_eq!(frames[0].seq, Seq(1));
        assert_eq!(frames[0].payload_length, 5);
        let record = &bytes[frames[0].record_offset..][..frames[0].record_length];
        assert_eq!(decode_record(record).unwrap().payload, b"hello");
        assert_eq!(
            (frames[1].id.as_str(), frames[1].seq),
            ("caf\u{e9}/x", Seq(4))
        );
        assert_eq!(frames[1].appended_at_millis, 1_700_000_000_004);
    }

    #[test]
    fn parsing_stops_at_a_torn_tail() {
        let bytes = framed(&[(1, "a", 1, b"one"), (1, "a", 2, b"two")]);
        let (whole, _) = parse_frames(&bytes);
        let second_start = whole[1].record_offset - 8 - 18 - 1;
        for cut in second_start..bytes.len() {
            let (frames, covered) = parse_frames(&bytes[..cut]);
            assert_eq!(frames.len(), 1, "cut at {cut}");
            assert_eq!(covered, second_start);
        }
    }

    #[test]
    fn any_flipped_bit_ends_the_log_there() {
        let bytes = framed(&[(1, "a", 1, b"one"), (1, "a", 2, b"two"), (1, "a", 3, b"x")]);
        let (whole, _) = parse_frames(&bytes);
        let second_start = whole[1].record_offset - 8 - 18 - 1;
        let third_start = whole[2].record_offset - 8 - 18 - 1;
        for position in second_start..third_start {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[position] ^= 1 << bit;
                let (frames, _) = parse_frames(&damaged);
                assert_eq!(frames.len(), 1, "byte {position} bit {bit}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics_or_parses_as_a_frame(
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..512)
        ) {
            proptest::prop_assert!(parse_frames(&garbage).0.is_empty());
        }
    }

    #[test]
    fn a_length_claiming_more_than_is_there_is_not_trusted() {
        assert!(
            parse_frames(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
                .0
                .is_empty()
        );
    }
}
