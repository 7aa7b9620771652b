//! A document's bookkeeping: its internal number, seq counter and sizes.
//!
//! Every write to a document rewrites this entry in the same atomic batch as
//! the records it describes, so the counters can never drift from the log.
//! The entry is what lets `load` notice a *missing* record (a gap between the
//! snapshot and `next_seq`), which checksums on the records alone cannot.
//! Both store implementations share this type and its rules, which is how
//! they keep identical semantics.
//!
//! Stored as a record of kind `DocumentEntry` (seq 0) whose 57-byte payload is:
//!
//! ```text
//! offset  size  field (all integers big-endian)
//!      0     8  document number (allocated once, never reused)
//!      8     8  next seq (the seq the next append receives; starts at 1)
//!     16     1  flags: bit 0 = has a snapshot, bit 1 = rich text (else text)
//!     17     8  snapshot through (last update seq in the snapshot)
//!     25     8  snapshot payload bytes
//!     33     8  log records since the snapshot
//!     41     8  log payload bytes since the snapshot
//!     49     8  updated at, milliseconds since the Unix epoch
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::document_kind::DocumentKind;
use crate::error::StoreError;
use crate::record::{RecordError, RecordKind, decode_record, encode_record};
use crate::store::{DocMeta, Seq};

const ENTRY_PAYLOAD_LENGTH: usize = 57;
const HAS_SNAPSHOT_FLAG: u8 = 0b1;
const RICH_KIND_FLAG: u8 = 0b10;

/// Why a stored document entry could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The entry's record framing is damaged.
    #[error("entry record is damaged")]
    Record(#[from] RecordError),
    /// The value is a valid record, but not a document entry.
    #[error("value is a {found:?} record, not a document entry")]
    WrongKind {
        /// The kind that was found instead.
        found: RecordKind,
    },
    /// The entry payload has the wrong size for this layout version.
    #[error("entry payload is {length} bytes, expected {ENTRY_PAYLOAD_LENGTH}")]
    WrongLength {
        /// The payload length found.
        length: usize,
    },
    /// A document row (PostgreSQL) holds a value no document can have: a negative count, an
    /// unknown kind, a snapshot beyond the last seq.
    #[error("document row has impossible {field} {value}")]
    ImpossibleValue {
        /// The column holding it.
        field: &'static str,
        /// The value found.
        value: i64,
    },
}

/// The decoded bookkeeping of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DocumentEntry {
    pub document_number: u64,
    pub next_seq: Seq,
    pub has_snapshot: bool,
    pub snapshot_through: Seq,
    pub snapshot_bytes: u64,
    pub log_records: u64,
    pub log_bytes: u64,
    pub updated_at_millis: u64,
    pub kind: DocumentKind,
}

impl DocumentEntry {
    /// A document that has just been created and holds nothing yet.
    pub fn new(document_number: u64) -> Self {
        DocumentEntry {
            document_number,
            next_seq: Seq(1),
            has_snapshot: false,
            snapshot_through: Seq::ZERO,
            snapshot_bytes: 0,
            log_records: 0,
            log_bytes: 0,
            updated_at_millis: now_millis(),
            kind: DocumentKind::Text,
        }
    }

    /// The highest seq appended so far (`Seq::ZERO` if none).
    pub fn last_seq(&self) -> Seq {
        Seq(self.next_seq.0.saturating_sub(1))
    }

    /// The seq the next appended update will receive.
    pub fn next_append_seq(&self) -> Seq {
        self.next_seq
    }

    /// Accounts for one appended update and returns the seq it receives.
    pub fn record_append(&mut self, payload_length: usize) -> Seq {
        let seq = self.next_seq;
        self.next_seq = seq.next();
        self.log_records += 1;
        self.log_bytes += payload_length as u64;
        self.updated_at_millis = now_millis();
        seq
    }

    /// Refuses compactions that would invent or lose updates.
    pub fn check_compaction(&self, doc: &str, through: Seq) -> Result<(), StoreError> {
        let snapshot_through = self.has_snapshot.then_some(self.snapshot_through);
        check_compaction(doc, through, self.last_seq(), snapshot_through)
    }

    /// Accounts for a compaction. The log counters are recomputed from the
    /// records that remain rather than decremented, so any earlier drift
    /// (for example from a damaged record) heals here.
    pub fn record_compaction(
        &mut self,
        snapshot_length: usize,
        through: Seq,
        remaining_records: u64,
        remaining_bytes: u64,
    ) {
        self.has_snapshot = true;
        self.snapshot_through = through;
        self.snapshot_bytes = snapshot_length as u64;
        self.log_records = remaining_records;
        self.log_bytes = remaining_bytes;
        self.updated_at_millis = now_millis();
    }

    /// The public view of this entry.
    pub fn to_meta(&self, id: &str) -> DocMeta {
        DocMeta {
            id: id.to_owned(),
            bytes: self.snapshot_bytes + self.log_bytes,
            log_bytes: self.log_bytes,
            log_records: self.log_records,
            last_seq: self.last_seq(),
            updated_at: UNIX_EPOCH + Duration::from_millis(self.updated_at_millis),
            damaged: false,
            kind: self.kind,
        }
    }

    /// The entry as a checksummed record.
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(ENTRY_PAYLOAD_LENGTH);
        payload.extend_from_slice(&self.document_number.to_be_bytes());
        payload.extend_from_slice(&self.next_seq.0.to_be_bytes());
        let mut flags = 0;
        if self.has_snapshot {
            flags |= HAS_SNAPSHOT_FLAG;
        }
        if self.kind == DocumentKind::Rich {
            flags |= RICH_KIND_FLAG;
        }
        payload.push(flags);
        payload.extend_from_slice(&self.snapshot_through.0.to_be_bytes());
        payload.extend_from_slice(&self.snapshot_bytes.to_be_bytes());
        payload.extend_from_slice(&self.log_records.to_be_bytes());
        payload.extend_from_slice(&self.log_bytes.to_be_bytes());
        payload.extend_from_slice(&self.updated_at_millis.to_be_bytes());
        // A 57-byte payload always fits the record's 32-bit length field.
        encode_record(RecordKind::DocumentEntry, Seq::ZERO, &payload)
            .unwrap_or_else(|_| unreachable!("entry payload is a fixed 57 bytes"))
    }

    /// Reads an entry back, verifying its checksum and size.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        let record = decode_record(bytes)?;
        if record.kind != RecordKind::DocumentEntry {
            return Err(EntryError::WrongKind { found: record.kind });
        }
        let Ok(payload) = <&[u8; ENTRY_PAYLOAD_LENGTH]>::try_from(record.payload) else {
            return Err(EntryError::WrongLength {
                length: record.payload.len(),
            });
        };
        let number_at = |offset: usize| {
            u64::from_be_bytes(std::array::from_fn(|index| payload[offset + index]))
        };
        Ok(DocumentEntry {
            document_number: number_at(0),
            next_seq: Seq(number_at(8)),
            has_snapshot: payload[16] & HAS_SNAPSHOT_FLAG != 0,
            snapshot_through: Seq(number_at(17)),
            snapshot_bytes: number_at(25),
            log_records: number_at(33),
            log_bytes: number_at(41),
            updated_at_millis: number_at(49),
            kind: if payload[16] & RICH_KIND_FLAG != 0 {
                DocumentKind::Rich
            } else {
                DocumentKind::Text
            },
        })
    }
}

/// Milliseconds since the Unix epoch; a clock before 1970 reads as 0 rather
/// than failing a write.
pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Refuses a compaction of `doc` through `through` that would invent updates (beyond
/// `last_seq`) or lose them (behind the current snapshot's `snapshot_through`, if any): the rule
/// every store keeps.
pub(crate) fn check_compaction(
    doc: &str,
    through: Seq,
    last_seq: Seq,
    snapshot_through: Option<Seq>,
) -> Result<(), StoreError> {
    if through > last_seq {
        return Err(StoreError::CompactBeyondLog {
            doc: doc.to_owned(),
            through,
            last_seq,
        });
    }
    if let Some(snapshot_through) = snapshot_through
        && through < snapshot_through
    {
        return Err(StoreError::StaleCompaction {
            doc: doc.to_owned(),
            through,
            snapshot_through,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips() {
        let mut entry = DocumentEntry::new(7);
        entry.record_append(10);
        entry.record_compaction(99, Seq(1), 0, 0);
        entry.record_append(5);
        assert_eq!(DocumentEntry::decode(&entry.encode()), Ok(entry.clone()));
        entry.kind = DocumentKind::Rich;
        let decoded = DocumentEntry::decode(&entry.encode()).unwrap();
        assert_eq!(decoded.kind, DocumentKind::Rich);
        assert!(
            decoded.has_snapshot,
            "the kind bit leaves the snapshot bit alone"
        );
    }

    #[test]
    fn wrong_kind_is_refused() {
        let bytes = encode_record(RecordKind::Update, Seq(1), &[0; ENTRY_PAYLOAD_LENGTH]).unwrap();
        assert_eq!(
            DocumentEntry::decode(&bytes),
            Err(EntryError::WrongKind {
                found: RecordKind::Update
            })
        );
    }

    #[test]
    fn compaction_bounds_are_enforced() {
        let mut entry = DocumentEntry::new(1);
        entry.record_append(1);
        entry.record_append(1);
        assert!(entry.check_compaction("d", Seq(3)).is_err());
        entry.record_compaction(1, Seq(2), 0, 0);
        assert!(entry.check_compaction("d", Seq(1)).is_err());
        assert!(entry.check_compaction("d", Seq(2)).is_ok());
    }
}
