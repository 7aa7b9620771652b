//! Finding compressed messages in the incoming byte stream, before tungstenite reads it.
//!
//! RFC 7692 marks a compressed message by the RSV1 bit of its first frame. tungstenite refuses
//! every frame with a reserved bit set, so the scanner clears that bit on its way through and
//! records, in order, whether each message was compressed. Whoever reads the messages tungstenite
//! assembles pops one mark per data message and inflates the marked ones. Only data messages
//! (text, binary) are marked; RSV1 on a continuation or control frame is left for tungstenite to
//! refuse, as the RFC requires.
//!
//! The scan is sans-IO: it only follows frame boundaries (a header of 2 to 14 bytes, then a
//! payload it skips), whatever the split of the stream into reads. It allocates nothing and trusts
//! no length: a payload length only says how many bytes to skip.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// FIN, RSV1..3 and the opcode share a frame's first byte.
const RSV1: u8 = 0x40;
const OPCODE: u8 = 0x0F;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
/// The longest header: 2 bytes, an 8-byte length, a 4-byte mask.
const LONGEST_HEADER: usize = 14;
/// What ends an HTTP head.
const HEAD_END: &[u8; 4] = b"\r\n\r\n";

/// Whether each data message read so far was compressed, oldest first: written by the scan,
/// taken by the reader of messages. Shared, because tungstenite owns the stream being scanned.
#[derive(Debug, Clone, Default)]
pub struct CompressedMarks(Arc<Mutex<VecDeque<bool>>>);

impl CompressedMarks {
    /// Records the next data message.
    fn push(&self, compressed: bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(compressed);
    }

    /// Whether the oldest data message not yet taken was compressed.
    pub fn take(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or(false)
    }
}

/// Follows frames through the stream, clearing and recording each message's compression bit.
#[derive(Debug)]
pub struct FrameScanner {
    state: State,
    marks: CompressedMarks,
}

#[derive(Debug)]
enum State {
    /// Passing an HTTP head (a client reading the handshake response); `matched` bytes of
    /// [`HEAD_END`] seen so far.
    HttpHead { matched: usize },
    /// Inside a frame header, `got` bytes of it seen.
    Header {
        bytes: [u8; LONGEST_HEADER],
        got: usize,
    },
    /// Inside a payload, `remaining` bytes of it still to pass.
    Payload { remaining: u64 },
}

const NEXT_HEADER: State = State::Header {
    bytes: [0; LONGEST_HEADER],
    got: 0,
};

impl FrameScanner {
    /// A scanner for a stream that starts with a frame (a server's side, after the upgrade).
    pub fn for_frames(marks: CompressedMarks) -> Self {
        FrameScanner {
            state: NEXT_HEADER,
            marks,
        }
    }

    /// A scanner for a stream that starts with an HTTP head (a client's side, from the
    /// handshake response on), which it passes untouched.
    pub fn after_http_head(marks: CompressedMarks) -> Self {
        FrameScanner {
            state: State::HttpHead { matched: 0 },
            marks,
        }
    }

    /// Scans the next `bytes` of the stream, clearing RSV1 where it marks a compressed message.
    pub fn scan(&mut self, bytes: &mut [u8]) {
        let mut at = 0;
        while at < bytes.len() {
            match &mut self.state {
                State::HttpHead { matched } => {
                    let byte = bytes[at];
                    at += 1;
                    *matched = if byte == HEAD_END[*matched] {
                        *matched + 1
                    } else if byte == HEAD_END[0] {
                        1
                    } else {
                        0
                    };
                    if *matched == HEAD_END.len() {
                        self.state = NEXT_HEADER;
                    }
                }
                State::Header { bytes: header, got } => {
                    if *got == 0 {
                        let first = bytes[at];
                        if matches!(first & OPCODE, TEXT | BINARY) {
                            let compressed = first & RSV1 != 0;
                            bytes[at] = first & !RSV1;
                            self.marks.push(compressed);
                        }
                    }
                    header[*got] = bytes[at];
                    *got += 1;
                    at += 1;
                    if let Some(payload) = complete_header(&header[..*got]) {
                        self.state = if payload == 0 {
                            NEXT_HEADER
                        } else {
                            State::Payload { remaining: payload }
                        };
                    }
                }
                State::Payload { remaining } => {
                    let available = (bytes.len() - at) as u64;
                    let passed = available.min(*remaining);
                    at += passed as usize;
                    *remaining -= passed;
                    if *remaining == 0 {
                        self.state = NEXT_HEADER;
                    }
                }
            }
        }
    }
}

/// The payload length of the frame whose header is `header`, once `header` is the whole of it.
fn complete_header(header: &[u8]) -> Option<u64> {
    let [_, second, rest @ ..] = header else {
        return None;
    };
    let length_bytes = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask_bytes = if second & 0x80 != 0 { 4 } else { 0 };
    if rest.len() < length_bytes + mask_bytes {
        return None;
    }
    let length = match length_bytes {
        0 => u64::from(second & 0x7F),
        _ => rest[..length_bytes]
            .iter()
            .fold(0, |length, byte| (length << 8) | u64::from(*byte)),
    };
    Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame (the mask is zero, so the payload reads as is).
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![first];
        match payload.len() {
            length @ 0..=125 => bytes.push(0x80 | length as u8),
            length @ 126..=65535 => {
                bytes.push(0x80 | 126);
                bytes.extend_from_slice(&(length as u16).to_be_bytes());
            }
            length => {
                bytes.push(0x80 | 127);
                bytes.extend_from_slice(&(length as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(payload);
        bytes
    }

    const FIN: u8 = 0x80;

    /// A stream of: a compressed binary message, a ping, an uncompressed binary message in two
    /// fragments (the second with a 300-byte payload), a compressed text message with a
    /// 70,000-byte payload, and an empty uncompressed binary message.
    fn stream() -> (Vec<u8>, Vec<u8>) {
        let parts = [
            frame(FIN | RSV1 | BINARY, b"\x01\x02\x03"),
            frame(FIN | 0x9, b"ping"),
            frame(BINARY, b"first half"),
            frame(FIN, &[7; 300]),
            frame(FIN | RSV1 | TEXT, &[9; 70_000]),
            frame(FIN | BINARY, b""),
        ];
        let sent = parts.concat();
        let mut expected = sent.clone();
        let mut offset = 0;
        for part in &parts {
            expected[offset] &= !RSV1;
            offset += part.len();
        }
        (sent, expected)
    }

    fn scan_in_pieces(scanner: &mut FrameScanner, bytes: &mut [u8], piece: usize) {
        for chunk in bytes.chunks_mut(piece) {
            scanner.scan(chunk);
        }
    }

    fn taken(marks: &CompressedMarks, count: usize) -> Vec<bool> {
        (0..count).map(|_| marks.take()).collect()
    }

    #[test]
    fn compressed_messages_are_marked_and_unflagged_however_the_stream_is_split() {
        let (sent, expected) = stream();
        for piece in [1, 2, 3, 5, 13, 14, 15, 1000, sent.len()] {
            let marks = CompressedMarks::default();
            let mut scanner = FrameScanner::for_frames(marks.clone());
            let mut bytes = sent.clone();
            scan_in_pieces(&mut scanner, &mut bytes, piece);
            assert_eq!(bytes, expected, "split into pieces of {piece}");
            assert_eq!(
                taken(&marks, 4),
                [true, false, true, false],
                "split into pieces of {piece}"
            );
            assert!(!marks.take(), "no fifth data message");
        }
    }

    #[test]
    fn rsv1_outside_a_message_start_is_left_for_tungstenite_to_refuse() {
        let marks = CompressedMarks::default();
        let mut scanner = FrameScanner::for_frames(marks.clone());
        let mut bytes = [
            frame(BINARY, b"a"),
            frame(FIN | RSV1, b"b"),
            frame(FIN | RSV1 | 0x9, b""),
        ]
        .concat();
        let sent = bytes.clone();
        scanner.scan(&mut bytes);
        assert_eq!(bytes, sent);
        assert_eq!(taken(&marks, 2), [false, false]);
    }

    #[test]
    fn a_client_passes_the_http_head_before_scanning_frames() {
        let (frames, expected) = stream();
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        for piece in [1, 3, 7, 64] {
            let marks = CompressedMarks::default();
            let mut scanner = FrameScanner::after_http_head(marks.clone());
            let mut bytes = [head.clone(), frames.clone()].concat();
            scan_in_pieces(&mut scanner, &mut bytes, piece);
            assert_eq!(bytes, [head.clone(), expected.clone()].concat());
            assert_eq!(taken(&marks, 4), [true, false, true, false]);
        }
    }

    #[test]
    fn server_frames_without_a_mask_are_followed_too() {
        let marks = CompressedMarks::default();
        let mut scanner = FrameScanner::for_frames(marks.clone());
        let mut bytes = vec![FIN | RSV1 | BINARY, 3, 1, 2, 3, FIN | BINARY, 1, 9];
        scanner.scan(&mut bytes);
        assert_eq!(bytes, [FIN | BINARY, 3, 1, 2, 3, FIN | BINARY, 1, 9]);
        assert_eq!(taken(&marks, 2), [true, false]);
    }
}
