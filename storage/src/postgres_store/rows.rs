//! Turning database rows into the crate's types, refusing impossible values instead of panicking.
//!
//! The schema's CHECK constraints keep counters non-negative and kinds known, but a row is
//! still data from outside the process (an operator's manual UPDATE, a constraint dropped by a
//! later migration gone wrong), so every column is read with `try_get` and every number is
//! converted with a check. A document row that fails is `StoreError::CorruptEntry`, as a
//! damaged sled entry is, so callers handle both stores' damage one way.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::Row;
use postgres::types::FromSql;

use super::postgres_error;
use crate::document_entry::EntryError;
use crate::document_kind::DocumentKind;
use crate::error::StoreError;
use crate::record::RecordError;
use crate::store::{DocMeta, Seq};

/// The columns of a document row that describe it, in the order `DOCUMENT_COLUMNS` selects.
pub(super) const DOCUMENT_COLUMNS: &str = "kind, last_seq, snapshot IS NOT NULL, \
     snapshot_through, coalesce(octet_length(snapshot), 0)::bigint, log_records, log_bytes, \
     (extract(epoch FROM updated_at) * 1000)::bigint";

/// Milliseconds since the Unix epoch as a `timestamptz`, exactly (an interval of whole
/// milliseconds, no floating point), for a bigint parameter `$n`.
pub(super) fn timestamp_of_millis(parameter: usize) -> String {
    format!("('epoch'::timestamptz + ${parameter}::bigint * interval '1 millisecond')")
}

/// Largest payload stored: PostgreSQL refuses a `bytea` value over 1 GB, and failing in Rust
/// refuses that one append alone instead of aborting the whole group transaction.
const MAX_PAYLOAD_BYTES: usize = (1 << 30) - 1;

/// Refuses payloads PostgreSQL could not store, as the other stores refuse unframeable ones.
pub(super) fn check_payload(payload: &[u8]) -> Result<(), StoreError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(StoreError::PayloadTooLarge(RecordError::PayloadTooLarge {
            length: payload.len(),
        }));
    }
    Ok(())
}

/// The decoded bookkeeping of one document row.
#[derive(Clone, Debug)]
pub(super) struct DocumentRow {
    pub kind: DocumentKind,
    pub last_seq: Seq,
    pub has_snapshot: bool,
    pub snapshot_through: Seq,
    pub snapshot_bytes: u64,
    pub log_records: u64,
    pub log_bytes: u64,
    pub updated_at_millis: u64,
}

impl DocumentRow {
    /// Reads `DOCUMENT_COLUMNS` from `row`, starting at column `first`.
    pub fn decode(doc: &str, row: &Row, first: usize) -> Result<Self, StoreError> {
        let corrupt = |source| StoreError::CorruptEntry {
            doc: doc.to_owned(),
            source,
        };
        let kind = match column::<i16>(row, first)? {
            0 => DocumentKind::Text,
            1 => DocumentKind::Rich,
            other => {
                return Err(corrupt(EntryError::ImpossibleValue {
                    field: "kind",
                    value: other.into(),
                }));
            }
        };
        let count = |offset: usize, field: &'static str| -> Result<u64, StoreError> {
            let value = column::<i64>(row, first + offset)?;
            u64::try_from(value).map_err(|_| corrupt(EntryError::ImpossibleValue { field, value }))
        };
        let decoded = DocumentRow {
            kind,
            last_seq: Seq(count(1, "last_seq")?),
            has_snapshot: column::<bool>(row, first + 2)?,
            snapshot_through: Seq(count(3, "snapshot_through")?),
            snapshot_bytes: count(4, "snapshot length")?,
            log_records: count(5, "log_records")?,
            log_bytes: count(6, "log_bytes")?,
            updated_at_millis: count(7, "updated_at")?,
        };
        if decoded.snapshot_through > decoded.last_seq
            || (!decoded.has_snapshot && decoded.snapshot_through > Seq::ZERO)
        {
            return Err(corrupt(EntryError::ImpossibleValue {
                field: "snapshot_through",
                value: i64::try_from(decoded.snapshot_through.0).unwrap_or(i64::MAX),
            }));
        }
        Ok(decoded)
    }

    pub fn to_meta(&self, id: &str) -> DocMeta {
        DocMeta {
            id: id.to_owned(),
            bytes: self.snapshot_bytes.saturating_add(self.log_bytes),
            log_bytes: self.log_bytes,
            log_records: self.log_records,
            last_seq: self.last_seq,
            updated_at: time_of_millis(self.updated_at_millis),
            damaged: false,
            kind: self.kind,
        }
    }

    /// Refuses compactions that would invent or lose updates (the rule every store keeps).
    pub fn check_compaction(&self, doc: &str, through: Seq) -> Result<(), StoreError> {
        let snapshot_through = self.has_snapshot.then_some(self.snapshot_through);
        crate::document_entry::check_compaction(doc, through, self.last_seq, snapshot_through)
    }
}

/// One column, with a type mismatch or NULL as an error rather than a panic.
pub(super) fn column<'row, T: FromSql<'row>>(
    row: &'row Row,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(postgres_error)
}

/// A non-negative bigint column (a seq, a count, a time) of a row describing `doc`.
pub(super) fn unsigned(
    doc: &str,
    row: &Row,
    index: usize,
    field: &'static str,
) -> Result<u64, StoreError> {
    let value = column::<i64>(row, index)?;
    u64::try_from(value).map_err(|_| StoreError::CorruptEntry {
        doc: doc.to_owned(),
        source: EntryError::ImpossibleValue { field, value },
    })
}

/// A count or seq as a bigint parameter. Nothing stored exceeds `i64::MAX`; saturating keeps
/// an absurd argument (a `through` past any real seq) a refused compaction, not a panic.
pub(super) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn time_of_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}
