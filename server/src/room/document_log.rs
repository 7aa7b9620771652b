//! Where a room's document stands in its stored log, and when to compact it.
//!
//! A document is stored as a snapshot plus the updates appended after it. The owner keeps this
//! account from what it loaded and from every append receipt, so it knows without asking the
//! store how large the document is (the `--max-document-bytes` check), when the log has grown
//! enough to be folded into a new snapshot, and which seq a snapshot of its document covers.
//! With other nodes appending too, which seqs its document holds is kept by [`AppliedSeqs`].

use storage::{AppendReceipt, LoadedDoc, Seq};

use super::applied_seqs::AppliedSeqs;

/// Compact once this many updates follow the snapshot...
pub const COMPACT_AFTER_RECORDS: u64 = 1_000;
/// ...or once they hold this many bytes.
pub const COMPACT_AFTER_BYTES: u64 = 4 * 1024 * 1024;

/// A room's account of its stored log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentLog {
    /// The seqs the room's document holds: on one node, every seq through the last appended.
    applied: AppliedSeqs,
    /// The highest seq a snapshot of this room's document may cover: below the first stored
    /// update from elsewhere that the document refused (`Seq(u64::MAX)`: none was).
    compaction_floor: Seq,
    tail_records: u64,
    tail_bytes: u64,
    /// Size of the stored snapshot.
    snapshot_bytes: u64,
    /// The stored log could not be read whole: rewrite it from what was loaded.
    damaged: bool,
}

impl DocumentLog {
    /// The account of what was just loaded; `damaged` when part of it could not be used.
    pub(crate) fn of_loaded(loaded: &LoadedDoc, damaged: bool) -> Self {
        DocumentLog {
            applied: AppliedSeqs::through(loaded.last_seq),
            compaction_floor: Seq(u64::MAX),
            tail_records: loaded.updates.len() as u64,
            tail_bytes: loaded
                .updates
                .iter()
                .map(|update| update.bytes.len() as u64)
                .sum(),
            snapshot_bytes: loaded
                .snapshot
                .as_ref()
                .map_or(0, |snapshot| snapshot.len() as u64),
            damaged: damaged || loaded.corruption.is_some(),
        }
    }

    /// Notes an append of the room's `count` updates, the last of which `receipt` describes;
    /// the seqs it got (`first..=receipt.seq`: one writer per node appends a persist's updates
    /// together, and a store serializes a document's appends), or `None` if nothing was appended.
    pub(crate) fn record_append(
        &mut self,
        receipt: Option<AppendReceipt>,
        count: usize,
    ) -> Option<(Seq, Seq)> {
        let receipt = receipt?;
        self.tail_records = receipt.log_records;
        self.tail_bytes = receipt.log_bytes;
        let first = Seq(receipt.seq.0.saturating_sub(count.max(1) as u64 - 1));
        self.applied.record(first, receipt.seq);
        Some((first, receipt.seq))
    }

    /// Notes that another node's updates `first..=last` reached the room's document.
    pub(crate) fn record_peer(&mut self, first: Seq, last: Seq) {
        self.applied.record(first, last);
    }

    /// Notes that another node's updates `first..=last` are stored but this room's document
    /// refused them: they count as heard (not missed), and no snapshot of the room may cover
    /// them.
    pub(crate) fn record_refused(&mut self, first: Seq, last: Seq) {
        self.applied.record(first, last);
        self.compaction_floor = self.compaction_floor.min(Seq(first.0.saturating_sub(1)));
    }

    /// Notes that the room read the store through `through`: its document holds everything up
    /// to there.
    pub(crate) fn record_read_through(&mut self, through: Seq) {
        self.applied.record_through(through);
    }

    /// Whether the room's document holds every seq of `first..=last` already.
    pub(crate) fn holds(&self, first: Seq, last: Seq) -> bool {
        self.applied.holds(first, last)
    }

    /// Whether the room missed seqs below ones it holds, to be read from the store.
    pub(crate) fn has_hole(&self) -> bool {
        self.applied.has_hole()
    }

    /// Whether a snapshot of the room's document would leave stored updates out of it (a hole,
    /// a refused update): compacting then only rewrites the snapshot, without emptying the log.
    pub(crate) fn compacts_partly(&self) -> bool {
        self.last_seq() < self.applied.highest()
    }

    /// The highest seq the room's document holds.
    pub(crate) fn highest(&self) -> Seq {
        self.applied.highest()
    }

    /// Notes that the log through `through` was folded into a snapshot of `snapshot_bytes`;
    /// appends made meanwhile (after `through`) are still in the log.
    pub(crate) fn record_compaction(&mut self, through: Seq, snapshot_bytes: u64) {
        if self.applied.highest() == through {
            self.tail_records = 0;
            self.tail_bytes = 0;
        }
        self.snapshot_bytes = snapshot_bytes;
        self.damaged = false;
    }

    /// The last seq such that the room's document holds it and every one before it: what a
    /// snapshot of the document covers.
    pub(crate) fn last_seq(&self) -> Seq {
        self.applied.contiguous().min(self.compaction_floor)
    }

    /// What the document takes in storage: snapshot plus log.
    pub(crate) fn stored_bytes(&self) -> u64 {
        self.snapshot_bytes + self.tail_bytes
    }

    /// True when updates follow the snapshot.
    pub(crate) fn has_tail(&self) -> bool {
        self.tail_records > 0 || self.damaged
    }

    /// True when the log has grown past the compaction threshold, or is damaged.
    pub(crate) fn needs_compaction(&self) -> bool {
        self.damaged
            || self.tail_records >= COMPACT_AFTER_RECORDS
            || self.tail_bytes >= COMPACT_AFTER_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::LoadedUpdate;

    fn loaded(snapshot: usize, updates: &[usize]) -> LoadedDoc {
        LoadedDoc {
            snapshot: (snapshot > 0).then(|| vec![0; snapshot]),
            snapshot_through: Seq(1),
            updates: updates
                .iter()
                .enumerate()
                .map(|(index, size)| LoadedUpdate {
                    seq: Seq(index as u64 + 2),
                    bytes: vec![0; *size],
                })
                .collect(),
            last_seq: Seq(updates.len() as u64 + 1),
            corruption: None,
        }
    }

    #[test]
    fn accounts_for_what_was_loaded_and_appended() {
        let mut log = DocumentLog::of_loaded(&loaded(100, &[10, 20]), false);
        assert_eq!(log.stored_bytes(), 130);
        assert!(log.has_tail());
        log.record_append(
            Some(AppendReceipt {
                seq: Seq(4),
                log_records: 3,
                log_bytes: 35,
                created: false,
            }),
            1,
        );
        assert_eq!(log.last_seq(), Seq(4));
        assert_eq!(log.stored_bytes(), 135);
        assert!(!log.needs_compaction());
    }

    #[test]
    fn a_compaction_empties_the_tail_unless_appends_followed_it() {
        let mut log = DocumentLog::of_loaded(&loaded(0, &[10]), false);
        log.record_compaction(Seq(2), 12);
        assert!(!log.has_tail());
        assert_eq!(log.stored_bytes(), 12);

        let mut log = DocumentLog::of_loaded(&loaded(0, &[10]), false);
        log.record_append(
            Some(AppendReceipt {
                seq: Seq(3),
                log_records: 2,
                log_bytes: 20,
                created: false,
            }),
            1,
        );
        // Compacted through seq 2 while seq 3 was being appended: seq 3 is still in the log.
        log.record_compaction(Seq(2), 12);
        assert!(log.has_tail());
    }

    #[test]
    fn damage_or_size_asks_for_compaction() {
        assert!(DocumentLog::of_loaded(&loaded(0, &[1]), true).needs_compaction());
        let many = vec![1; COMPACT_AFTER_RECORDS as usize];
        assert!(DocumentLog::of_loaded(&loaded(0, &many), false).needs_compaction());
        let large = [COMPACT_AFTER_BYTES as usize];
        assert!(DocumentLog::of_loaded(&loaded(0, &large), false).needs_compaction());
    }

    #[test]
    fn seqs_other_nodes_appended_keep_compaction_below_what_the_room_missed() {
        let mut log = DocumentLog::of_loaded(&loaded(0, &[10]), false);
        assert_eq!(log.last_seq(), Seq(2));
        // Another node appended 3 and 4; this room's own two updates got 5 and 6.
        let appended = log.record_append(
            Some(AppendReceipt {
                seq: Seq(6),
                log_records: 5,
                log_bytes: 50,
                created: false,
            }),
            2,
        );
        assert_eq!(appended, Some((Seq(5), Seq(6))));
        assert!(log.has_hole());
        assert_eq!(
            log.last_seq(),
            Seq(2),
            "a snapshot now may cover only through 2"
        );
        assert_eq!(log.highest(), Seq(6));
        log.record_peer(Seq(3), Seq(3));
        assert_eq!(log.last_seq(), Seq(3));
        assert!(log.holds(Seq(5), Seq(6)));
        assert!(!log.holds(Seq(4), Seq(4)));
        log.record_read_through(Seq(6));
        assert_eq!(log.last_seq(), Seq(6));
        assert!(!log.has_hole());
        assert!(!log.compacts_partly());
    }

    #[test]
    fn an_update_the_document_refused_keeps_compaction_below_it() {
        let mut log = DocumentLog::of_loaded(&loaded(0, &[10]), false);
        log.record_refused(Seq(3), Seq(3));
        log.record_peer(Seq(4), Seq(5));
        assert!(!log.has_hole(), "heard, so not read again");
        assert!(log.holds(Seq(3), Seq(3)));
        assert_eq!(log.last_seq(), Seq(2), "no snapshot may drop seq 3");
        assert!(log.compacts_partly());
    }
}
