//! The append log on its own: appends read back, segments roll over and go, replay finds frames.

use super::*;
use crate::record::{RecordKind, decode_record, encode_record};

const TINY: AppendLogLimits = AppendLogLimits {
    segment_bytes: 200,
    closed_segments: 2,
};

fn append(log: &AppendLog, id: &str, number: u64, seq: u64) {
    let record = encode_record(
        RecordKind::Update,
        Seq(seq),
        format!("{id}-{seq}").as_bytes(),
    )
    .unwrap();
    let frame = Append {
        document_number: number,
        appended_at_millis: 1,
        id,
        record: &record,
    };
    log.append(&[frame], &[Seq(seq)]).unwrap();
}

fn payloads(log: &AppendLog, number: u64) -> Vec<String> {
    log.read(number, Seq::ZERO, Seq(u64::MAX))
        .unwrap()
        .into_iter()
        .map(|(seq, record)| {
            let record = decode_record(&record).unwrap();
            assert_eq!(record.seq, seq);
            String::from_utf8(record.payload.to_vec()).unwrap()
        })
        .collect()
}

#[test]
fn appends_read_back_across_segments_and_dead_segments_go() {
    let directory = tempfile::tempdir().unwrap();
    let (log, replayed) = AppendLog::open(directory.path(), TINY).unwrap();
    assert!(replayed.is_empty());
    for seq in 1..=12 {
        append(&log, "a", 1, seq);
        append(&log, "b", 2, seq);
    }
    log.sync().unwrap();
    assert!(log.segment_count() > 3, "{}", log.segment_count());
    assert_eq!(payloads(&log, 1).len(), 12);
    assert_eq!(payloads(&log, 2)[11], "b-12");
    assert_eq!(log.count_after(1, Seq(10)), (2, 8), "a-11 and a-12");
    let groups = log
        .due_for_folding()
        .expect("more closed segments than allowed");
    assert!(groups.iter().all(|group| group.seqs.starts_with(&[Seq(1)])));
    log.forget_through(1, Seq(12)).unwrap();
    log.forget_document(2).unwrap();
    assert_eq!(log.segment_count(), 1, "only the current segment is left");
    assert!(log.due_for_folding().is_none());
    assert!(payloads(&log, 1).is_empty());
}

#[test]
fn reopening_replays_every_frame_where_it_was() {
    let directory = tempfile::tempdir().unwrap();
    {
        let (log, _) = AppendLog::open(directory.path(), TINY).unwrap();
        for seq in 1..=6 {
            append(&log, "doc", 7, seq);
        }
        log.sync().unwrap();
    }
    let (log, replayed) = AppendLog::open(directory.path(), TINY).unwrap();
    let seqs: Vec<u64> = replayed.iter().map(|frame| frame.seq.0).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert!(
        replayed
            .iter()
            .all(|frame| frame.id == "doc" && frame.document_number == 7)
    );
    log.adopt(
        replayed
            .into_iter()
            .filter(|frame| frame.seq > Seq(2))
            .collect(),
    );
    log.remove_dead_segments().unwrap();
    assert_eq!(payloads(&log, 7), ["doc-3", "doc-4", "doc-5", "doc-6"]);
    append(&log, "doc", 7, 7);
    assert_eq!(payloads(&log, 7).last().map(String::as_str), Some("doc-7"));
}
