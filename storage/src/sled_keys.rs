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
//! ```
//!
//! Ids are only ever looked up by *exact* entry key, and all per-document
//! data hangs off a fixed-width number allocated by `generate_id`, so no id
//! can be a prefix of another's data: "a", "ab" and "a/b" get unrelated
//! numbers, and a prefix scan over `'d' ‖ number` covers one document only.
//! Big-endian integers make sled's byte order equal numeric order, so a range
//! scan returns a log in seq order. Everything lives in one tree because sled
//! batches are atomic within a single tree.

use crate::store::Seq;

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

const DOCUMENT_PREFIX_LENGTH: usize = 9;
const UPDATE_KEY_LENGTH: usize = 18;

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
    let key: &[u8; UPDATE_KEY_LENGTH] = key.try_into().ok()?;
    if key[0] != DATA_TAG || key[DOCUMENT_PREFIX_LENGTH] != UPDATE_TAG {
        return None;
    }
    let seq: [u8; 8] = std::array::from_fn(|index| key[DOCUMENT_PREFIX_LENGTH + 1 + index]);
    Some(Seq(u64::from_be_bytes(seq)))
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
    fn entry_keys_round_trip() {
        assert_eq!(id_from_entry_key(&entry_key("a/b")), Some("a/b".to_owned()));
        assert_eq!(id_from_entry_key(&snapshot_key(1)), None);
    }
}
