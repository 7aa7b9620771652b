//! Turning a document's raw stored records into a [`LoadedDoc`].
//!
//! Both stores feed their raw values through this one assembler so that
//! corruption is judged identically everywhere. The rule is simple: walk the
//! records in seq order (snapshot first, then updates from
//! `snapshot_through + 1` to the entry's last seq) and stop at the first one
//! that is damaged, misplaced or missing. Everything before it is returned;
//! nothing after it is, because CRDT updates applied out of order or with a
//! hole in between would silently produce a different document.

use crate::document_entry::DocumentEntry;
use crate::record::{RecordKind, decode_record};
use crate::store::{Corruption, CorruptionReason, LoadedDoc, LoadedUpdate, RecordLocation, Seq};

/// Accumulates a load, one raw record at a time, in seq order.
pub(crate) struct LoadAssembler {
    loaded: LoadedDoc,
    /// The seq the next update must have for the log to be gap-free.
    expected_seq: Seq,
    /// The last seq the entry says exists; records beyond it are ignored.
    last_seq: Seq,
}

impl LoadAssembler {
    pub fn new(entry: &DocumentEntry) -> Self {
        LoadAssembler {
            loaded: LoadedDoc {
                last_seq: entry.last_seq(),
                ..LoadedDoc::default()
            },
            expected_seq: entry.snapshot_through.next(),
            last_seq: entry.last_seq(),
        }
    }

    /// True until a corruption has been recorded; callers stop feeding
    /// records once it turns false.
    pub fn wants_more(&self) -> bool {
        self.loaded.corruption.is_none()
    }

    /// Feeds the snapshot slot. Call only when the entry says the document
    /// has a snapshot; `raw` is `None` if the value is absent.
    pub fn snapshot(&mut self, entry: &DocumentEntry, raw: Option<&[u8]>) {
        let location = RecordLocation::Snapshot;
        let Some(raw) = raw else {
            return self.stop(location, CorruptionReason::Missing);
        };
        match decode_record(raw) {
            Err(error) => self.stop(location, CorruptionReason::Damaged(error)),
            Ok(record)
                if record.kind != RecordKind::Snapshot || record.seq != entry.snapshot_through =>
            {
                self.stop(
                    location,
                    CorruptionReason::Misplaced {
                        found_kind: record.kind,
                        found_seq: record.seq,
                    },
                );
            }
            Ok(record) => {
                self.loaded.snapshot = Some(record.payload.to_vec());
                self.loaded.snapshot_through = entry.snapshot_through;
            }
        }
    }

    /// Feeds the next stored update (keys in ascending seq order, starting
    /// after the snapshot). Returns whether more records are wanted.
    pub fn update(&mut self, seq: Seq, raw: &[u8]) -> bool {
        if !self.wants_more() || seq > self.last_seq {
            return false;
        }
        if seq < self.expected_seq {
            // Already covered by the snapshot; the stores never hand these
            // over, but skipping is the only safe reading if one does.
            return true;
        }
        if seq > self.expected_seq {
            self.stop(
                RecordLocation::Update(self.expected_seq),
                CorruptionReason::Missing,
            );
            return false;
        }
        let location = RecordLocation::Update(seq);
        match decode_record(raw) {
            Err(error) => self.stop(location, CorruptionReason::Damaged(error)),
            Ok(record) if record.kind != RecordKind::Update || record.seq != seq => {
                self.stop(
                    location,
                    CorruptionReason::Misplaced {
                        found_kind: record.kind,
                        found_seq: record.seq,
                    },
                );
            }
            Ok(record) => {
                self.loaded.updates.push(LoadedUpdate {
                    seq,
                    bytes: record.payload.to_vec(),
                });
                self.expected_seq = seq.next();
            }
        }
        self.wants_more()
    }

    /// Ends the load; a log that ends before the entry's last seq is
    /// reported as a missing record.
    pub fn finish(mut self) -> LoadedDoc {
        if self.wants_more() && self.expected_seq <= self.last_seq {
            self.stop(
                RecordLocation::Update(self.expected_seq),
                CorruptionReason::Missing,
            );
        }
        self.loaded
    }

    fn stop(&mut self, location: RecordLocation, reason: CorruptionReason) {
        self.loaded.corruption = Some(Corruption { location, reason });
    }
}
