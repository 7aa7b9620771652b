//! Editing traces turned into the Yjs updates a writer sends.
//!
//! A trace (format in `../shared/data/traces/README.md`: gzipped JSON, `startContent`,
//! `endContent`, `txns[].patches[] = [pos, numDeleted, insertedText]`, positions in code points)
//! is replayed once into a yrs document before a run, recording the update each patch produces;
//! the run then only sends bytes, so the writer's own CRDT work never limits the measurement.
//! A prefix of the trace (`--quick`, tests) is checked against a plain string replay instead of
//! `endContent`.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use serde::Deserialize;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact};

/// Name of the root text the trace edits, as Quire's web client and tests name it.
pub const TEXT_NAME: &str = "text";

/// Client id of the document a trace is replayed into: fixed, so runs are reproducible.
const REPLAY_CLIENT: u64 = 0x0051_5249_4e45;

/// A trace as stored on disk.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TraceFile {
    start_content: String,
    end_content: String,
    txns: Vec<TraceTransaction>,
}

#[derive(Debug, Deserialize)]
struct TraceTransaction {
    patches: Vec<Patch>,
}

/// `[pos, numDeleted, insertedText]`.
#[derive(Debug, Deserialize)]
struct Patch(usize, usize, String);

/// Why a trace could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened.
    #[error("cannot open trace {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a gzipped trace.
    #[error("trace {path} is not a gzipped editing trace: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A patch points outside the text.
    #[error("patch {index} of {path} is out of range")]
    PatchOutOfRange { path: PathBuf, index: usize },
}

/// A trace replayed into Yjs updates.
pub struct ReplayedTrace {
    /// One update per patch, in order (preceded by one for `startContent` when not empty).
    pub updates: Vec<Vec<u8>>,
    /// The text once every update is applied.
    pub expected_text: String,
    /// The whole resulting document as one update (what a seeded room holds).
    pub document: Vec<u8>,
}

/// Reads `path` and replays its first `limit` patches (all with `None`).
pub fn replay(path: &Path, limit: Option<usize>) -> Result<ReplayedTrace, TraceError> {
    let file = File::open(path).map_err(|source| TraceError::Open {
        path: path.to_owned(),
        source,
    })?;
    let trace: TraceFile =
        serde_json::from_reader(BufReader::new(GzDecoder::new(file))).map_err(|source| {
            TraceError::Parse {
                path: path.to_owned(),
                source,
            }
        })?;
    let patches: Vec<&Patch> = trace
        .txns
        .iter()
        .flat_map(|transaction| &transaction.patches)
        .collect();
    let complete = limit.is_none_or(|limit| limit >= patches.len());
    let patches = &patches[..limit.map_or(patches.len(), |limit| limit.min(patches.len()))];

    let doc = Doc::with_client_id(REPLAY_CLIENT);
    let text = doc.get_or_insert_text(TEXT_NAME);
    let mut updates = Vec::with_capacity(patches.len() + 1);
    if !trace.start_content.is_empty() {
        let mut transaction = doc.transact_mut();
        text.insert(&mut transaction, 0, &trace.start_content);
        updates.push(transaction.encode_update_v1());
    }
    // yrs counts text positions in UTF-8 bytes, traces in code points. For ASCII traces they are
    // the same and only the length is tracked; otherwise a shadow copy converts (one scan per
    // patch). A prefix replay also keeps the shadow: it is the reference text the yrs replay is
    // checked against, as `endContent` is for a whole one.
    let ascii = trace.start_content.is_ascii() && patches.iter().all(|patch| patch.2.is_ascii());
    let mut shadow = (!ascii || !complete).then(|| trace.start_content.clone());
    let mut length = trace.start_content.len();
    for (index, Patch(position, deleted, inserted)) in patches.iter().enumerate() {
        let range = match &shadow {
            Some(shadow) if !ascii => byte_offset(shadow, 0, *position)
                .and_then(|start| byte_offset(shadow, start, *deleted).map(|end| start..end)),
            _ => (position + deleted <= length).then(|| *position..position + deleted),
        };
        let Some(range) = range else {
            return Err(TraceError::PatchOutOfRange {
                path: path.to_owned(),
                index,
            });
        };
        let mut transaction = doc.transact_mut();
        let as_u32 = |value: usize| u32::try_from(value).expect("trace texts are under 4 GiB");
        if !range.is_empty() {
            text.remove_range(&mut transaction, as_u32(range.start), as_u32(range.len()));
        }
        if !inserted.is_empty() {
            text.insert(&mut transaction, as_u32(range.start), inserted);
        }
        updates.push(transaction.encode_update_v1());
        drop(transaction);
        length = length - range.len() + inserted.len();
        if let Some(shadow) = &mut shadow {
            shadow.replace_range(range, inserted);
        }
    }
    let transaction = doc.transact();
    let replayed = text.get_string(&transaction);
    let expected_text = match shadow {
        Some(shadow) if !complete => shadow,
        _ => trace.end_content,
    };
    assert!(
        replayed == expected_text,
        "replaying the trace into yrs diverged from the plain text replay"
    );
    let document = transaction.encode_state_as_update_v1(&StateVector::default());
    Ok(ReplayedTrace {
        updates,
        expected_text,
        document,
    })
}

/// The byte offset `count` code points after byte `from` of `text`; `None` past its end.
fn byte_offset(text: &str, from: usize, count: usize) -> Option<usize> {
    let mut chars = text[from..].char_indices();
    match chars.nth(count) {
        Some((offset, _)) => Some(from + offset),
        None => (text[from..].chars().count() == count).then_some(text.len()),
    }
}

/// Reads the text of a document held as one update, for checking what a client received.
pub fn text_of_update(update: &[u8]) -> Result<String, yrs::encoding::read::Error> {
    use yrs::Update;
    use yrs::updates::decoder::Decode;
    let doc = Doc::new();
    let text = doc.get_or_insert_text(TEXT_NAME);
    let update = Update::decode_v1(update)?;
    let mut transaction = doc.transact_mut();
    // A well-formed update that references missing blocks stays pending and leaves the text
    // short, which the caller's comparison reports.
    let _ = transaction.apply_update(update);
    Ok(text.get_string(&transaction))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_offsets_count_code_points() {
        assert_eq!(byte_offset("abc", 0, 3), Some(3));
        assert_eq!(byte_offset("abc", 0, 4), None);
        assert_eq!(byte_offset("aé b", 0, 2), Some(3));
        assert_eq!(byte_offset("aé b", 1, 1), Some(3));
        assert_eq!(byte_offset("aé", 0, 2), Some(3));
        assert_eq!(byte_offset("aé", 0, 3), None);
    }
}
