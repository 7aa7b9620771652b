//! Writes `fuzz/seeds/<target>/`: real encodings for each fuzz target to start from, so a short
//! CI run mutates well-formed messages instead of first having to discover their layout.
//!
//! Run from `fuzz/` with `cargo run -p quire-fuzz-seeds` after a change to a format; the output
//! is committed. Each file is named after what it holds. Regenerating gives the same bytes but
//! for the order of hash map entries (awareness clients, a sub-document's options).

mod documents;

use std::fs;
use std::path::{Path, PathBuf};

use crdt_core::wire::encode_frame;
use storage::{RecordKind, Seq, encode_record};
use yrs::encoding::write::Write;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ClientID, StateVector};

use documents::Encodings;

/// How `protocol_frame` separates frames in one input (see that target).
const FRAME_SEPARATOR: &[u8] = b"\xfe\xfd|";

fn main() -> std::io::Result<()> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let samples = documents::samples();
    let awareness = awareness_updates();

    let mut state_vectors = Seeds::new(&seeds, "state_vector")?;
    let mut updates = Seeds::new(&seeds, "update")?;
    let mut records = Seeds::new(&seeds, "storage_record")?;
    let mut frames = Seeds::new(&seeds, "protocol_frame")?;
    let mut envelopes = Seeds::new(&seeds, "hocuspocus_envelope")?;
    for (name, encodings) in &samples {
        state_vectors.write(name, &encodings.state_vector)?;
        updates.write(&format!("{name}-v1"), &encodings.whole_v1)?;
        updates.write(&format!("{name}-v2"), &encodings.whole_v2)?;
        updates.write(&format!("{name}-last-edit"), &encodings.last_edit)?;
        records.write(
            &format!("{name}-snapshot"),
            &record(RecordKind::Snapshot, 7, &encodings.whole_v1),
        )?;
        records.write(
            &format!("{name}-update"),
            &record(RecordKind::Update, 8, &encodings.last_edit),
        )?;
        let messages = sync_messages(encodings, &awareness[0].1);
        frames.write(&format!("{name}-read-write"), &joined(0, &messages))?;
        frames.write(&format!("{name}-read-only"), &joined(1, &messages))?;
        for (index, message) in messages.iter().enumerate() {
            envelopes.write(
                &format!("{name}-{index}"),
                &addressed("notes/today", message),
            )?;
        }
    }
    state_vectors.write("empty", &StateVector::default().encode_v1())?;
    for (kind, name) in [
        (RecordKind::DocumentEntry, "document-entry"),
        (RecordKind::VersionEntry, "version-entry"),
        (RecordKind::VersionSnapshot, "version-snapshot"),
    ] {
        records.write(name, &record(kind, 3, b"payload"))?;
    }

    let mut awareness_seeds = Seeds::new(&seeds, "awareness_update")?;
    for (name, update) in &awareness {
        awareness_seeds.write(name, &update.encode_v1())?;
    }
    for (name, envelope) in hocuspocus_only_messages() {
        envelopes.write(name, &envelope)?;
    }
    Ok(())
}

/// The messages a client sends about one document, as y-protocols frames.
fn sync_messages(encodings: &Encodings, awareness: &AwarenessUpdate) -> Vec<Vec<u8>> {
    let state = StateVector::decode_v1(&encodings.state_vector).expect("yrs's own state vector");
    [
        Message::Sync(SyncMessage::SyncStep1(state)),
        Message::Sync(SyncMessage::SyncStep2(encodings.whole_v1.clone())),
        Message::Sync(SyncMessage::Update(encodings.last_edit.clone())),
        Message::Awareness(awareness.clone()),
        Message::AwarenessQuery,
    ]
    .iter()
    .map(|message| encode_frame(message).to_vec())
    .collect()
}

/// Awareness updates as y-protocols clients send them: states within the `awareness_update`
/// target's 64-byte limit, one removed client (`null`), and one state over the limit.
fn awareness_updates() -> Vec<(&'static str, AwarenessUpdate)> {
    let update = |states: &[(u64, u32, &str)]| AwarenessUpdate {
        clients: states
            .iter()
            .map(|&(client, clock, json)| {
                let entry = AwarenessUpdateEntry {
                    clock,
                    json: json.into(),
                };
                (ClientID::new(client), entry)
            })
            .collect(),
    };
    vec![
        (
            "one-user",
            update(&[(7, 1, r##"{"user":{"name":"Ana","color":"#30bced"}}"##)]),
        ),
        (
            "cursor",
            update(&[(7, 4, r#"{"cursor":{"anchor":3,"head":9},"n":1.5e3}"#)]),
        ),
        (
            "two-users-one-gone",
            update(&[(7, 2, r#"{"user":{"name":"Ana"}}"#), (9, 5, "null")]),
        ),
        (
            "escapes",
            update(&[(
                11,
                1,
                r#"{"name":"B\u00e9a \"\\/\n","ok":[true,false,null]}"#,
            )]),
        ),
        (
            "over-the-limit",
            update(&[(12, 1, &format!(r#"{{"pad":"{}"}}"#, "x".repeat(80)))]),
        ),
    ]
}

/// Frames `protocol_frame` feeds one connection: its first byte is the access flag.
fn joined(access: u8, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut input = vec![access];
    for (index, frame) in frames.iter().enumerate() {
        if index > 0 {
            input.extend_from_slice(FRAME_SEPARATOR);
        }
        input.extend_from_slice(frame);
    }
    input
}

/// A Hocuspocus frame: the document's address as a lib0 varString, then the message.
fn addressed(address: &str, message: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.write_string(address);
    frame.extend_from_slice(message);
    frame
}

/// The Hocuspocus messages that are not y-protocols ones.
fn hocuspocus_only_messages() -> Vec<(&'static str, Vec<u8>)> {
    let mut auth = vec![2, 0];
    auth.write_string("eyJhbGciOiJIUzI1NiJ9.e30.signature");
    let mut auth_with_version = auth.clone();
    auth_with_version.write_string("4.1.0");
    let mut stateless = vec![5];
    stateless.write_string(r#"{"event":"saved"}"#);
    vec![
        ("ping", vec![9]),
        ("pong", vec![10]),
        ("auth", addressed("notes/today", &auth)),
        ("auth-4x", addressed("notes/today", &auth_with_version)),
        ("auth-session", addressed("notes/today\0session-1", &auth)),
        ("stateless", addressed("notes/today", &stateless)),
        ("close", addressed("notes/today", &[7])),
        ("sync-status", addressed("notes/today", &[8, 1])),
    ]
}

fn record(kind: RecordKind, seq: u64, payload: &[u8]) -> Vec<u8> {
    encode_record(kind, Seq(seq), payload).expect("a small payload")
}

/// One target's seed folder, emptied first so a renamed seed leaves no stale file behind.
struct Seeds {
    folder: PathBuf,
}

impl Seeds {
    fn new(root: &Path, target: &str) -> std::io::Result<Self> {
        let folder = root.join(target);
        if folder.exists() {
            fs::remove_dir_all(&folder)?;
        }
        fs::create_dir_all(&folder)?;
        Ok(Seeds { folder })
    }

    fn write(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        fs::write(self.folder.join(name), bytes)
    }
}
