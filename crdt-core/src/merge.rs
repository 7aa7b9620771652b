//! Merging a batch of Yjs updates into one, for storage.
//!
//! A room persists every update it accepted in a batch before anyone sees them. Stored one by
//! one, each update costs its own store append (a read of the document entry and two writes);
//! under a pipelining writer that append, not the CRDT work, was the ceiling. Merged first, a
//! batch is one append, and the log holds fewer, larger records that load faster too.
//!
//! Merging is `yrs::merge_updates_v1` (Yjs's `mergeUpdates`): the result applies to exactly the
//! same document state as the updates applied in order.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::ProtocolError;

/// Merges `updates` (Yjs v1 updates, in the order they were applied) into one v1 update.
///
/// One update comes back as it is. The updates were normally applied by a room already, so
/// failure means a bug or a damaged input; the caller can then store them unmerged.
pub fn merge_updates<U: AsRef<[u8]>>(updates: &[U]) -> Result<Vec<u8>, ProtocolError> {
    if let [only] = updates {
        return Ok(only.as_ref().to_vec());
    }
    let parts: Vec<&[u8]> = updates.iter().map(AsRef::as_ref).collect();
    // yrs's decoder asserts on some malformed input (see `wire`); a panic is a refusal here too.
    catch_unwind(AssertUnwindSafe(|| yrs::merge_updates_v1(parts)))
        .map_err(|_| ProtocolError::UndecodableUpdate)?
        .map_err(ProtocolError::MalformedUpdate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, Text, Transact, Update};

    /// Per-edit updates of a small editing session, each from its own transaction.
    fn edit_updates() -> (Doc, Vec<Vec<u8>>) {
        let doc = Doc::with_client_id(7);
        let text = doc.get_or_insert_text("text");
        let mut updates = Vec::new();
        let edits: [(u32, &str, u32); 5] = [
            (0, "hello world", 0),
            (5, ",", 0),
            (0, "", 1),
            (0, "H", 0),
            (12, "!", 0),
        ];
        for (index, insert, delete) in edits {
            let mut txn = doc.transact_mut();
            if delete > 0 {
                text.remove_range(&mut txn, index, delete);
            }
            if !insert.is_empty() {
                text.insert(&mut txn, index, insert);
            }
            updates.push(txn.encode_update_v1());
        }
        (doc, updates)
    }

    fn text_of(update: &[u8]) -> String {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("text");
        doc.transact_mut()
            .apply_update(Update::decode_v1(update).unwrap())
            .unwrap();
        text.get_string(&doc.transact())
    }

    #[test]
    fn merged_update_rebuilds_the_same_text() {
        let (doc, updates) = edit_updates();
        let expected = doc.get_or_insert_text("text").get_string(&doc.transact());
        let merged = merge_updates(&updates).unwrap();
        assert_eq!(text_of(&merged), expected);
        assert_eq!(expected, "Hello, world!");
    }

    #[test]
    fn one_update_is_returned_unchanged() {
        let (_, updates) = edit_updates();
        assert_eq!(merge_updates(&updates[..1]).unwrap(), updates[0]);
    }

    #[test]
    fn garbage_is_refused_not_merged() {
        let (_, updates) = edit_updates();
        let batch = vec![updates[0].clone(), vec![0xff, 0xff, 0xff]];
        assert!(merge_updates(&batch).is_err());
    }
}
