//! The checksummed framing shared by every value the store writes.
//!
//! Updates, snapshots, document entries and versions are all stored as *records*: a fixed
//! 18-byte header followed by the payload. The header names what the record is
//! (`kind`) and where it belongs (`seq`), so a value that ends up under the
//! wrong key is caught as well as one whose bytes were damaged. The CRC-32
//! covers the header (minus the checksum field itself) and the payload, so a
//! torn write, a flipped bit or a truncated value is never mistaken for data.
//!
//! ```text
//! offset  size  field
//!      0     1  record format version (currently 1)
//!      1     1  kind: 1 = update, 2 = snapshot, 3 = document entry,
//!               4 = version entry, 5 = version snapshot
//!      2     8  seq, big-endian (update: its own seq; snapshot: the last
//!               update seq it includes; document entry: 0; version entry
//!               and version snapshot: the version id)
//!     10     4  payload length in bytes, big-endian
//!     14     4  CRC-32 (IEEE) of bytes 0..14 followed by the payload, big-endian
//!     18     n  payload
//! ```
//!
//! [`decode_record`] is a pure function over untrusted bytes: it validates
//! lengths before slicing and never panics, which makes it a fuzz target.

use crate::store::Seq;

/// Version written into byte 0 of every record this build produces.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// Size of the fixed header that precedes every payload.
pub const RECORD_HEADER_LENGTH: usize = 18;

/// Byte offset of the checksum field; everything before it is checksummed.
const CHECKSUM_OFFSET: usize = 14;

/// What a record holds. The kind is part of the checksummed header so that a
/// snapshot can never be read back as an update or vice versa.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// One opaque update appended to a document's log.
    Update,
    /// A document's compacted state, covering every update up to its seq.
    Snapshot,
    /// A document's bookkeeping (number, counters, timestamps).
    DocumentEntry,
    /// A named version's description (label, creation time, size); see
    /// `version_record`. Kept apart from the version's content so listing
    /// versions never reads their snapshots.
    VersionEntry,
    /// A named version's content: a full-state snapshot, opaque like the rest.
    VersionSnapshot,
}

impl RecordKind {
    fn to_byte(self) -> u8 {
        match self {
            RecordKind::Update => 1,
            RecordKind::Snapshot => 2,
            RecordKind::DocumentEntry => 3,
            RecordKind::VersionEntry => 4,
            RecordKind::VersionSnapshot => 5,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(RecordKind::Update),
            2 => Some(RecordKind::Snapshot),
            3 => Some(RecordKind::DocumentEntry),
            4 => Some(RecordKind::VersionEntry),
            5 => Some(RecordKind::VersionSnapshot),
            _ => None,
        }
    }
}

/// A successfully decoded record, borrowing its payload from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'bytes> {
    /// What the record holds.
    pub kind: RecordKind,
    /// The sequence number stored in the header (see the module docs).
    pub seq: Seq,
    /// The opaque payload, checksum-verified.
    pub payload: &'bytes [u8],
}

/// Why a byte string is not a valid record. Each variant is a distinct way a
/// stored value can be damaged; none of them is ever ignored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the fixed header: the value was truncated.
    #[error("record is {length} bytes, shorter than the {RECORD_HEADER_LENGTH}-byte header")]
    TooShort {
        /// How many bytes were present.
        length: usize,
    },
    /// The version byte is not one this build knows how to read.
    #[error("record format version {version} is not supported")]
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// The header's payload length disagrees with the bytes present: the
    /// value was torn or truncated, or has trailing garbage.
    #[error("record header declares {declared} payload bytes but {actual} are present")]
    LengthMismatch {
        /// Payload length from the header.
        declared: u32,
        /// Payload bytes actually present after the header.
        actual: usize,
    },
    /// The CRC-32 over header and payload does not match the stored one.
    #[error("record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// Checksum found in the header.
        stored: u32,
        /// Checksum computed over the bytes present.
        computed: u32,
    },
    /// The checksum matched but the kind byte is unknown (written by a newer
    /// build, or a checksum collision on garbage).
    #[error("record kind {kind} is not known")]
    UnknownKind {
        /// The kind byte found.
        kind: u8,
    },
    /// Encoding only: the payload does not fit the 32-bit length field.
    #[error("payload of {length} bytes exceeds the 4 GiB record limit")]
    PayloadTooLarge {
        /// The payload length that was refused.
        length: usize,
    },
}

/// Frames `payload` as a record of `kind` at `seq`.
///
/// Fails only if the payload is longer than `u32::MAX` bytes.
pub fn encode_record(kind: RecordKind, seq: Seq, payload: &[u8]) -> Result<Vec<u8>, RecordError> {
    let length = u32::try_from(payload.len()).map_err(|_| RecordError::PayloadTooLarge {
        length: payload.len(),
    })?;
    let mut bytes = Vec::with_capacity(RECORD_HEADER_LENGTH + payload.len());
    bytes.push(RECORD_FORMAT_VERSION);
    bytes.push(kind.to_byte());
    bytes.extend_from_slice(&seq.0.to_be_bytes());
    bytes.extend_from_slice(&length.to_be_bytes());
    let checksum = checksum(&bytes[..CHECKSUM_OFFSET], payload);
    bytes.extend_from_slice(&checksum.to_be_bytes());
    bytes.extend_from_slice(payload);
    Ok(bytes)
}

/// Parses and verifies a record. Never panics, whatever the input.
///
/// Checks run in an order where each one only relies on what the previous
/// ones established: enough bytes for a header, a version whose layout we
/// know, a length that matches, a checksum that matches, and only then the
/// meaning of the kind byte (which the checksum has vouched for).
pub fn decode_record(bytes: &[u8]) -> Result<Record<'_>, RecordError> {
    let Some((header, payload)) = bytes.split_first_chunk::<RECORD_HEADER_LENGTH>() else {
        return Err(RecordError::TooShort {
            length: bytes.len(),
        });
    };
    let version = header[0];
    if version != RECORD_FORMAT_VERSION {
        return Err(RecordError::UnknownVersion { version });
    }
    let kind = header[1];
    let seq = u64::from_be_bytes(header_field(header, 2));
    let declared = u32::from_be_bytes(header_field(header, 10));
    let stored = u32::from_be_bytes(header_field(header, CHECKSUM_OFFSET));
    if usize::try_from(declared).ok() != Some(payload.len()) {
        return Err(RecordError::LengthMismatch {
            declared,
            actual: payload.len(),
        });
    }
    let computed = checksum(&header[..CHECKSUM_OFFSET], payload);
    if computed != stored {
        return Err(RecordError::ChecksumMismatch { stored, computed });
    }
    let kind = RecordKind::from_byte(kind).ok_or(RecordError::UnknownKind { kind })?;
    Ok(Record {
        kind,
        seq: Seq(seq),
        payload,
    })
}

/// Payload length of a stored value without verifying it, for bookkeeping
/// over values that are about to be deleted (damaged ones included).
pub(crate) fn payload_length_of_stored(bytes: &[u8]) -> u64 {
    bytes.len().saturating_sub(RECORD_HEADER_LENGTH) as u64
}

/// Copies a fixed-width field out of the header. The offsets are constants
/// within the 18-byte array, so this cannot index out of bounds.
fn header_field<const WIDTH: usize>(
    header: &[u8; RECORD_HEADER_LENGTH],
    offset: usize,
) -> [u8; WIDTH] {
    std::array::from_fn(|index| header[offset + index])
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(payload);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        for kind in [
            RecordKind::Update,
            RecordKind::Snapshot,
            RecordKind::DocumentEntry,
            RecordKind::VersionEntry,
            RecordKind::VersionSnapshot,
        ] {
            let bytes = encode_record(kind, Seq(42), b"payload").unwrap();
            let record = decode_record(&bytes).unwrap();
            assert_eq!(record.kind, kind);
            assert_eq!(record.seq, Seq(42));
            assert_eq!(record.payload, b"payload");
        }
    }

    #[test]
    fn empty_payload_round_trips() {
        let bytes = encode_record(RecordKind::Update, Seq(1), b"").unwrap();
        assert_eq!(bytes.len(), RECORD_HEADER_LENGTH);
        assert_eq!(decode_record(&bytes).unwrap().payload, b"");
    }

    #[test]
    fn truncation_is_detected() {
        let bytes = encode_record(RecordKind::Update, Seq(1), b"hello").unwrap();
        assert_eq!(
            decode_record(&bytes[..bytes.len() - 1]),
            Err(RecordError::LengthMismatch {
                declared: 5,
                actual: 4
            })
        );
        assert_eq!(
            decode_record(&bytes[..3]),
            Err(RecordError::TooShort { length: 3 })
        );
    }

    #[test]
    fn flipped_payload_bit_is_detected() {
        let mut bytes = encode_record(RecordKind::Update, Seq(1), b"hello").unwrap();
        bytes[RECORD_HEADER_LENGTH] ^= 0x01;
        assert!(matches!(
            decode_record(&bytes),
            Err(RecordError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn changed_seq_is_detected() {
        let mut bytes = encode_record(RecordKind::Update, Seq(1), b"hello").unwrap();
        bytes[9] = 2;
        assert!(matches!(
            decode_record(&bytes),
            Err(RecordError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn unknown_version_is_reported() {
        let mut bytes = encode_record(RecordKind::Update, Seq(1), b"x").unwrap();
        bytes[0] = 9;
        assert_eq!(
            decode_record(&bytes),
            Err(RecordError::UnknownVersion { version: 9 })
        );
    }
}
