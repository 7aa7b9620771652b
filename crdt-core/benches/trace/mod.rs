//! Editing-trace loader shared by the crdt-core benchmarks.
//!
//! Reads a gzipped trace from `/work/shared/data/traces/` (format in that directory's README:
//! `{"startContent", "endContent", "txns": [{"patches": [[pos, numDeleted, insertedText]]}]}`,
//! positions in Unicode code points), located relative to the workspace root or through the
//! `QUIRE_TRACES_DIR` override, and replays it once into a yrs `Doc` to record the Yjs v1 update
//! each patch produces. Benchmarks then time applying those updates, never producing them.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use flate2::read::GzDecoder;
use serde::Deserialize;
use yrs::{Doc, GetString, Text, Transact};

/// Name of the root text every benchmark document edits.
pub const TEXT_NAME: &str = "text";

/// Environment variable overriding the trace directory.
pub const TRACES_DIR_VAR: &str = "QUIRE_TRACES_DIR";

/// A trace as stored on disk.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub start_content: String,
    pub end_content: String,
    pub txns: Vec<TraceTxn>,
}

/// One transaction of a trace; only its patches matter here.
#[derive(Debug, Deserialize)]
pub struct TraceTxn {
    pub patches: Vec<Patch>,
}

/// `[pos, numDeleted, insertedText]`: delete `numDeleted` code points at `pos`, then insert.
#[derive(Debug, Deserialize)]
pub struct Patch(pub u32, pub u32, pub String);

/// Why a trace could not be used.
#[derive(Debug)]
pub enum TraceError {
    /// The file is not there (a checkout without `../shared`): benchmarks should skip.
    Missing(PathBuf),
    /// The file is there but unreadable or not a trace.
    Invalid(PathBuf, String),
}

impl fmt::Display for TraceError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Missing(path) => write!(
                formatter,
                "trace {} not found (set {TRACES_DIR_VAR} to the traces directory)",
                path.display()
            ),
            TraceError::Invalid(path, why) => {
                write!(formatter, "trace {} unusable: {why}", path.display())
            }
        }
    }
}

/// The directory traces are read from: `$QUIRE_TRACES_DIR`, else `<workspace>/../shared/data/traces`.
pub fn traces_dir() -> PathBuf {
    match std::env::var_os(TRACES_DIR_VAR) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/traces"),
    }
}

/// Reads and parses `file_name` (e.g. `automerge-paper.json.gz`) from [`traces_dir`].
pub fn load(file_name: &str) -> Result<Trace, TraceError> {
    let path = traces_dir().join(file_name);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(TraceError::Missing(path));
        }
        Err(error) => return Err(TraceError::Invalid(path, error.to_string())),
    };
    serde_json::from_reader(BufReader::new(GzDecoder::new(file)))
        .map_err(|error| TraceError::Invalid(path, error.to_string()))
}

/// The Yjs v1 updates a trace produces, one per patch, and the text they lead to.
pub struct EditUpdates {
    /// One update per patch (preceded by one for `startContent` when it is not empty).
    pub updates: Vec<Vec<u8>>,
    /// The document's text once every update is applied.
    pub final_text: String,
    /// Whether `final_text` is the trace's `endContent` (false when only a prefix was replayed).
    pub complete: bool,
}

impl EditUpdates {
    /// Total size of the updates in bytes.
    pub fn total_bytes(&self) -> usize {
        self.updates.iter().map(Vec::len).sum()
    }
}

/// Replays the trace's first `limit` patches (all with `None`) into a fresh yrs `Doc`, one
/// transaction per patch, recording each transaction's update. Panics if the resulting text is
/// not what the trace says it should be: a benchmark over a wrong replay would be meaningless.
pub fn per_edit_updates(trace: &Trace, limit: Option<usize>) -> EditUpdates {
    let total = trace
        .txns
        .iter()
        .map(|txn| txn.patches.len())
        .sum::<usize>();
    let count = limit.map_or(total, |limit| limit.min(total));
    let patches = trace.txns.iter().flat_map(|txn| &txn.patches).take(count);

    let doc = Doc::new();
    let text = doc.get_or_insert_text(TEXT_NAME);
    let mut updates = Vec::with_capacity(count + 1);
    // yrs indexes text in UTF-8 bytes (its default `OffsetKind`); for pure-ASCII traces such as
    // automerge-paper a code point position is the byte offset. Otherwise a shadow copy of the
    // text converts positions, at O(length) per patch.
    let ascii = trace.start_content.is_ascii()
        && trace
            .txns
            .iter()
            .flat_map(|txn| &txn.patches)
            .all(|patch| patch.2.is_ascii());
    let mut shadow = trace.start_content.clone();

    if !trace.start_content.is_empty() {
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, &trace.start_content);
        updates.push(txn.encode_update_v1());
    }
    for Patch(position, deleted, inserted) in patches {
        let mut txn = doc.transact_mut();
        let (index, length) = if ascii {
            (*position, *deleted)
        } else {
            splice_code_points(&mut shadow, *position, *deleted, inserted)
        };
        if length > 0 {
            text.remove_range(&mut txn, index, length);
        }
        if !inserted.is_empty() {
            text.insert(&mut txn, index, inserted);
        }
        updates.push(txn.encode_update_v1());
    }

    let final_text = text.get_string(&doc.transact());
    let complete = count == total;
    let expected = if complete {
        trace.end_content.clone()
    } else {
        naive_replay(trace, count)
    };
    assert!(
        final_text == expected,
        "replaying {count} patches into yrs did not give the expected text"
    );
    EditUpdates {
        updates,
        final_text,
        complete,
    }
}

/// Applies one patch to `shadow` and returns its position and deleted length in UTF-8 bytes.
fn splice_code_points(
    shadow: &mut String,
    position: u32,
    deleted: u32,
    inserted: &str,
) -> (u32, u32) {
    let byte_at = |text: &str, chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(offset, _)| offset)
    };
    let start = byte_at(shadow, position as usize);
    let end = start + byte_at(&shadow[start..], deleted as usize);
    shadow.replace_range(start..end, inserted);
    let as_u32 = |value: usize| u32::try_from(value).expect("trace text fits in u32 bytes");
    (as_u32(start), as_u32(end - start))
}

/// The text after the first `count` patches, by plain string editing: the reference a partial
/// replay is checked against.
fn naive_replay(trace: &Trace, count: usize) -> String {
    let mut chars: Vec<char> = trace.start_content.chars().collect();
    for Patch(position, deleted, inserted) in
        trace.txns.iter().flat_map(|txn| &txn.patches).take(count)
    {
        let start = *position as usize;
        chars.splice(start..start + *deleted as usize, inserted.chars());
    }
    chars.into_iter().collect()
}
