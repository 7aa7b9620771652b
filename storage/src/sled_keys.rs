//! The sled key layout, version 1. Every key the sled store touches is built
//! or parsed here, so the layout documented in `docs/architecture.md` has
//! exactly one implementation.
//!
//! ```text
//! default tree
//!   "format"                                   -> layout version, u32 big-endian
//! tree "documents"
//!   'i' ‖ id (UTF-8)                           -> document entry record
//!   'd' ‖ number (u64 BE) ‖ 's'                -> snapshot record
//!   'd' ‖ number (u64 BE) ‖ 'u' ‖ seq (u64 BE) -> update record
//!   'd' ‖ number (u64 BE) ‖ 'v' ‖ id (u64 BE)  -> version entry record
//!   'd' ‖ number (u64 BE) ‖ 'w' ‖ id (u64 BE)  -> version snapshot record
//! ```
//!
//! Ids are only ever looked up by *exact* entry key, and all per-document
//! data hangs off a fixed-width number allocated by `generate_id`, so no id
//! can be a prefix of another's data: "a", "ab" and "a/b" get unrelated
//! numbers, and a prefix scan over `'d' ‖ number` covers one document only.
//! Big-endian integers make sled's byte order equal numeric order, so a range
//! scan returns a log in seq order. Everything lives in one tree because sled
//! batches are atomic within a single tree.
//!
//! Versions were added to layout version 1 without bumping it: their keys
//! use tags older builds never read, and older builds already remove
//! everything under `'d' ‖ number` when deleting a document and only touch
//! `'u'` keys when compacting, so data written by either build stays valid
//! for the other.

use crate::store::Seq;
use crate::version::VersionId;

/// Key of the layout version marker in sled's default tree.
pub const FORMAT_KEY: &[u8] = b"format";

/// The layout this build reads and writes.
pub const LAYOUT_VERSION: u32 = 1;

/// Name of the tree holding entries and records.
pub const DOCUMENTS_TREE: &[u8] = b"documents";

const ENTRY_TAG: u8 = b'i';
const DATA_TAG: u8 = b'd';
const SNAPSHOT_TAG: u8 = b's';
const UPDATE_TAG: u8 = b'u';
const VERSION_ENTRY_TAG: u8 = b'v';
/// The byte after `'v'`, so a document's version entries and version
/// snapshots are two adjacent ranges and neither scan reads the other's values.
const VERSION_SNAPSHOT_TAG: u8 = b'w';

const DOCUMENT_PREFIX_LENGTH: usize = 9;
/// Update and version keys alike: prefix, tag, then a u64.
const NUMBERED_KEY_LENGTH: usize = 18;

/// The entry key of document `id`.
pub fn entry_key(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(ENTRY_TAG);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The first byte shared by every entry key, for listing.
pub fn entry_key_prefix() -> [u8; 1] {
    [ENTRY_TAG]
}

/// The id an entry key belongs to. Keys are written from `&str`, so invalid
/// UTF-8 can only come from outside damage; it is shown lossily rather than
/// hidden.
pub fn id_from_entry_key(key: &[u8]) -> Option<String> {
    let (&ENTRY_TAG, id) = key.split_first()? else {
        return None;
    };
    Some(String::from_utf8_lossy(id).into_owned())
}

/// The prefix of every key holding document `number`'s records.
pub fn document_prefix(number: u64) -> [u8; DOCUMENT_PREFIX_LENGTH] {
    let mut key = [0; DOCUMENT_PREFIX_LENGTH];
    key[0] = DATA_TAG;
    key[1..].copy_from_slice(&number.to_be_bytes());
    key
}

/// The key of document `number`'s snapshot.
pub fn snapshot_key(number: u64) -> Vec<u8> {
    let mut key = document_prefix(number).to_vec();
    key.push(SNAPSHOT_TAG);
    key
}

/// The prefix of every update key of document `number`.
pub fn update_prefix(number: u64) -> Vec<u8> {
    let mut key = document_prefix(number).to_vec();
    key.push(UPDATE_TAG);
    key
}

/// The key of document `number`'s update at `seq`.
pub fn update_key(number: u64, seq: Seq) -> Vec<u8> {
    let mut key = update_prefix(number);
    key.extend_from_slice(&seq.0.to_be_bytes());
    key
}

/// The seq of an update key, or `None` if the key is not shaped like one.
pub fn seq_from_update_key(key: &[u8]) -> Option<Seq> {
    number_from_key(key, UPDATE_TAG).map(Seq)
}

/// The prefix of every version entry key of document `number`.
pub fn version_entry_prefix(number: u64) -> Vec<u8> {
    let mut key = document_prefix(number).to_vec();
    key.push(VERSION_ENTRY_TAG);
    key
}

/// The key of the entry of document `number`'s version `id`.
pub fn version_entry_key(number: u64, id: VersionId) -> Vec<u8> {
    let mut key = version_entry_prefix(number);
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

/// The prefix of every version snapshot key of document `number`.
pub fn version_snapshot_prefix(number: u64) -> Vec<u8> {
    let mut key = document_prefix(number).to_vec();
    key.push(VERSION_SNAPSHOT_TAG);
    key
}

/// The key of the snapshot of document `number`'s version `id`.
pub fn version_snapshot_key(number: u64, id: VersionId) -> Vec<u8> {
    let mut key = version_snapshot_prefix(number);
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

/// The version id of a version entry or version snapshot key, or `None` if
/// the key is neither.
pub fn version_from_key(key: &[u8]) -> Option<VersionId> {
    number_from_key(key, VERSION_ENTRY_TAG)
        .or_else(|| number_from_key(key, VERSION_SNAPSHOT_TAG))
        .map(VersionId)
}

/// The trailing u64 of a `'d' ‖ number ‖ tag ‖ u64` key with the given tag.
fn number_from_key(key: &[u8], tag: u8) -> Option<u64> {
    let key: &[u8; NUMBERED_KEY_LENGTH] = key.try_into().ok()?;
    if key[0] != DATA_TAG || key[DOCUMENT_PREFIX_LENGTH] != tag {
        return None;
    }
    let number: [u8; 8] = std::array::from_fn(|index| key[DOCUMENT_PREFIX_LENGTH + 1 + index]);
    Some(u64::from_be_bytes(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_keys_round_trip_and_sort_by_seq() {
        let low = update_key(3, Seq(9));
        let high = update_key(3, Seq(10));
        assert!(low < high);
        assert_eq!(seq_from_update_key(&high), Some(Seq(10)));
        assert_eq!(seq_from_update_key(&snapshot_key(3)), None);
    }

    #[test]
    fn snapshot_sorts_before_updates_and_documents_do_not_overlap() {
        assert!(snapshot_key(1) < update_key(1, Seq(0)));
        assert!(update_key(1, Seq(u64::MAX)) < snapshot_key(2));
    }

    #[test]
    fn version_keys_round_trip_and_stay_inside_their_document() {
        let entry = version_entry_key(3, VersionId(7));
        let snapshot = version_snapshot_key(3, VersionId(7));
        assert_eq!(version_from_key(&entry), Some(VersionId(7)));
        assert_eq!(version_from_key(&snapshot), Some(VersionId(7)));
        assert_eq!(seq_from_update_key(&entry), None);
        assert_eq!(version_from_key(&update_key(3, Seq(7))), None);
        assert!(entry.starts_with(&document_prefix(3)));
        assert!(update_key(3, Seq(u64::MAX)) < entry);
        assert!(version_entry_key(3, VersionId(u64::MAX)) < snapshot);
        assert!(version_snapshot_key(3, VersionId(u64::MAX)) < snapshot_key(4));
    }

    #[test]
    fn entry_keys_round_trip() {
        assert_eq!(id_from_entry_key(&entry_key("a/b")), Some("a/b".to_owned()));
        assert_eq!(id_from_entry_key(&snapshot_key(1)), None);
    }
}
