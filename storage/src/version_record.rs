//! How a version is stored: two checksummed records, and the one judgement of what they hold.
//!
//! A version is written as a small **version entry** (label, creation time, snapshot size) and
//! a separate **version snapshot** holding the content, in one atomic batch. Splitting them lets
//! `list_versions` read only the entries, however large the snapshots are. Both records carry the
//! version id as their seq, so a record copied under another version's key is caught as well as
//! a damaged one. Both stores hand their raw values to the functions here, which is how they
//! judge damage identically.
//!
//! The version entry's payload:
//!
//! ```text
//! offset  size  field (integers big-endian)
//!      0     8  created at, milliseconds since the Unix epoch
//!      8     8  snapshot payload bytes
//!     16     n  label, UTF-8 (at most 256 bytes)
//! ```

use std::time::{Duration, UNIX_EPOCH};

use crate::error::StoreError;
use crate::record::{RecordError, RecordKind, decode_record, encode_record};
use crate::store::Seq;
use crate::version::{VersionId, VersionMeta};

const LABEL_OFFSET: usize = 16;

/// Why a stored version cannot be read. The document and its other versions are unaffected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VersionRecordError {
    /// The version entry's bytes fail to decode: torn, truncated or bit-flipped.
    #[error("version entry is damaged")]
    DamagedEntry(#[source] RecordError),
    /// The version entry decodes but names another record (wrong kind or version id).
    #[error("version entry slot holds a misplaced record ({found_kind:?} at seq {found_seq})")]
    MisplacedEntry {
        /// Kind named in the record's header.
        found_kind: RecordKind,
        /// Seq (version id) named in the record's header.
        found_seq: Seq,
    },
    /// The version entry's checksum holds but its payload is not shaped like one (too short, or
    /// a label that is not UTF-8), so it was written by something other than this layout.
    #[error("version entry payload is malformed ({length} bytes)")]
    MalformedEntry {
        /// Length of the payload found.
        length: usize,
    },
    /// The version snapshot's bytes fail to decode.
    #[error("version snapshot is damaged")]
    DamagedSnapshot(#[source] RecordError),
    /// The version snapshot decodes but names another record (wrong kind or version id).
    #[error("version snapshot slot holds a misplaced record ({found_kind:?} at seq {found_seq})")]
    MisplacedSnapshot {
        /// Kind named in the record's header.
        found_kind: RecordKind,
        /// Seq (version id) named in the record's header.
        found_seq: Seq,
    },
    /// The version entry exists but its snapshot does not. Both are written in one batch, so
    /// this is outside damage.
    #[error("version snapshot is missing")]
    MissingSnapshot,
    /// The snapshot's size disagrees with the size its entry recorded.
    #[error("version snapshot is {actual} bytes but its entry records {recorded}")]
    SnapshotSizeMismatch {
        /// Size recorded in the version entry.
        recorded: u64,
        /// Size of the snapshot found.
        actual: u64,
    },
}

/// A version ready to be written: both records and the description they encode.
pub(crate) struct EncodedVersion {
    pub meta: VersionMeta,
    pub entry: Vec<u8>,
    pub snapshot: Vec<u8>,
}

/// Frames a new version. The label must already be valid; creation time is now.
pub(crate) fn encode_version(
    id: VersionId,
    label: &str,
    snapshot: &[u8],
) -> Result<EncodedVersion, StoreError> {
    let created_at_millis = crate::document_entry::now_millis();
    let bytes = snapshot.len() as u64;
    let mut payload = Vec::with_capacity(LABEL_OFFSET + label.len());
    payload.extend_from_slice(&created_at_millis.to_be_bytes());
    payload.extend_from_slice(&bytes.to_be_bytes());
    payload.extend_from_slice(label.as_bytes());
    let seq = Seq(id.0);
    let entry = encode_record(RecordKind::VersionEntry, seq, &payload)
        .map_err(StoreError::PayloadTooLarge)?;
    let snapshot = encode_record(RecordKind::VersionSnapshot, seq, snapshot)
        .map_err(StoreError::PayloadTooLarge)?;
    Ok(EncodedVersion {
        meta: VersionMeta {
            id,
            label: label.to_owned(),
            created_at: UNIX_EPOCH + Duration::from_millis(created_at_millis),
            bytes,
        },
        entry,
        snapshot,
    })
}

/// Reads the version entry stored under version `id`'s key.
pub(crate) fn decode_version_entry(
    id: VersionId,
    raw: &[u8],
) -> Result<VersionMeta, VersionRecordError> {
    let record = decode_record(raw).map_err(VersionRecordError::DamagedEntry)?;
    if record.kind != RecordKind::VersionEntry || record.seq != Seq(id.0) {
        return Err(VersionRecordError::MisplacedEntry {
            found_kind: record.kind,
            found_seq: record.seq,
        });
    }
    let malformed = || VersionRecordError::MalformedEntry {
        length: record.payload.len(),
    };
    let (numbers, label) = record
        .payload
        .split_first_chunk::<LABEL_OFFSET>()
        .ok_or_else(malformed)?;
    let number_at =
        |offset: usize| u64::from_be_bytes(std::array::from_fn(|index| numbers[offset + index]));
    let label = std::str::from_utf8(label).map_err(|_| malformed())?;
    Ok(VersionMeta {
        id,
        label: label.to_owned(),
        created_at: UNIX_EPOCH + Duration::from_millis(number_at(0)),
        bytes: number_at(8),
    })
}

/// Reads the snapshot of the version `meta` describes; `raw` is `None` if the value is absent.
pub(crate) fn decode_version_snapshot(
    meta: &VersionMeta,
    raw: Option<&[u8]>,
) -> Result<Vec<u8>, VersionRecordError> {
    let raw = raw.ok_or(VersionRecordError::MissingSnapshot)?;
    let record = decode_record(raw).map_err(VersionRecordError::DamagedSnapshot)?;
    if record.kind != RecordKind::VersionSnapshot || record.seq != Seq(meta.id.0) {
        return Err(VersionRecordError::MisplacedSnapshot {
            found_kind: record.kind,
            found_seq: record.seq,
        });
    }
    let actual = record.payload.len() as u64;
    if actual != meta.bytes {
        return Err(VersionRecordError::SnapshotSizeMismatch {
            recorded: meta.bytes,
            actual,
        });
    }
    Ok(record.payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_round_trips() {
        let encoded = encode_version(VersionId(3), "before — ✓", b"state").unwrap();
        let meta = decode_version_entry(VersionId(3), &encoded.entry).unwrap();
        assert_eq!(meta, encoded.meta);
        assert_eq!(
            decode_version_snapshot(&meta, Some(&encoded.snapshot)).unwrap(),
            b"state"
        );
    }

    #[test]
    fn records_of_another_version_are_misplaced() {
        let encoded = encode_version(VersionId(3), "x", b"state").unwrap();
        assert_eq!(
            decode_version_entry(VersionId(4), &encoded.entry),
            Err(VersionRecordError::MisplacedEntry {
                found_kind: RecordKind::VersionEntry,
                found_seq: Seq(3)
            })
        );
        let mut other = encoded.meta.clone();
        other.id = VersionId(4);
        assert!(matches!(
            decode_version_snapshot(&other, Some(&encoded.snapshot)),
            Err(VersionRecordError::MisplacedSnapshot { .. })
        ));
        // An entry record is not a snapshot, even under the right id.
        assert!(matches!(
            decode_version_snapshot(&encoded.meta, Some(&encoded.entry)),
            Err(VersionRecordError::MisplacedSnapshot { .. })
        ));
    }

    #[test]
    fn malformed_entry_payloads_are_reported() {
        let short = encode_record(RecordKind::VersionEntry, Seq(1), &[0; 15]).unwrap();
        assert_eq!(
            decode_version_entry(VersionId(1), &short),
            Err(VersionRecordError::MalformedEntry { length: 15 })
        );
        let mut payload = vec![0; LABEL_OFFSET];
        payload.push(0xff);
        let not_utf8 = encode_record(RecordKind::VersionEntry, Seq(1), &payload).unwrap();
        assert!(matches!(
            decode_version_entry(VersionId(1), &not_utf8),
            Err(VersionRecordError::MalformedEntry { .. })
        ));
    }

    #[test]
    fn a_snapshot_of_the_wrong_size_is_reported() {
        let encoded = encode_version(VersionId(1), "x", b"state").unwrap();
        let mut meta = encoded.meta.clone();
        meta.bytes = 4;
        assert_eq!(
            decode_version_snapshot(&meta, Some(&encoded.snapshot)),
            Err(VersionRecordError::SnapshotSizeMismatch {
                recorded: 4,
                actual: 5
            })
        );
        assert_eq!(
            decode_version_snapshot(&meta, None),
            Err(VersionRecordError::MissingSnapshot)
        );
    }
}
