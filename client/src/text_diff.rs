//! Turning a new version of a text into the fewest CRDT edits.
//!
//! Replacing a document's text wholesale would delete every character and insert them again:
//! concurrent edits by others inside the old text would land in deleted text, and every cursor
//! would jump. A character diff (`similar`, Myers with a deadline so a pathological pair cannot
//! stall the caller) keeps every unchanged character as the same CRDT item. The diff counts
//! Unicode scalar values; yrs counts offsets in the document's [`OffsetKind`] (UTF-16 code units
//! for documents shared with JavaScript, or bytes), so each diff position is converted before it
//! is applied. Edits are applied from the end backwards so earlier positions stay valid.

use std::time::Duration;

use similar::{Algorithm, DiffTag, TextDiff};
use yrs::{OffsetKind, Text, TextRef, TransactionMut};

/// Longest the diff may search for a minimal edit script before settling for a coarser one.
const DIFF_DEADLINE: Duration = Duration::from_secs(2);

/// Edits `text`, whose content is `old`, to read `new`, in `transaction`. Returns how many
/// insertions and deletions it made.
pub fn apply_text_diff(
    text: &TextRef,
    transaction: &mut TransactionMut,
    old: &str,
    new: &str,
) -> usize {
    if old == new {
        return 0;
    }
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(DIFF_DEADLINE)
        .diff_chars(old, new);
    let kind = transaction.doc().offset_kind();
    let old_offsets = Offsets::new(old, kind);
    let new_bytes = Offsets::new(new, OffsetKind::Bytes);
    let mut edits = 0;
    for operation in diff.ops().iter().rev() {
        let (tag, old_range, new_range) = operation.as_tag_tuple();
        if tag == DiffTag::Equal {
            continue;
        }
        let at = old_offsets.at(old_range.start);
        if !old_range.is_empty() {
            let length = old_offsets.at(old_range.end) - at;
            text.remove_range(transaction, at, length);
            edits += 1;
        }
        if !new_range.is_empty() {
            let inserted =
                &new[new_bytes.at(new_range.start) as usize..new_bytes.at(new_range.end) as usize];
            text.insert(transaction, at, inserted);
            edits += 1;
        }
    }
    edits
}

/// The offset, in some unit, of every character boundary of a string.
struct Offsets(Vec<u32>);

impl Offsets {
    fn new(text: &str, kind: OffsetKind) -> Self {
        let mut offsets = Vec::with_capacity(text.len() + 1);
        let mut offset = 0u32;
        offsets.push(offset);
        for character in text.chars() {
            offset += match kind {
                OffsetKind::Bytes => character.len_utf8(),
                OffsetKind::Utf16 => character.len_utf16(),
            } as u32;
            offsets.push(offset);
        }
        Offsets(offsets)
    }

    /// The offset of the boundary before character `index` (`index` = length: the end).
    fn at(&self, index: usize) -> u32 {
        self.0[index]
    }
}

#[cfg(test)]
mod tests {
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, Options, ReadTxn, Transact};

    use super::*;

    fn doc(kind: OffsetKind) -> Doc {
        Doc::with_options(Options {
            offset_kind: kind,
            ..Options::default()
        })
    }

    fn edit(doc: &Doc, old: &str, new: &str) -> usize {
        let text = doc.get_or_insert_text("text");
        let mut transaction = doc.transact_mut();
        apply_text_diff(&text, &mut transaction, old, new)
    }

    fn content(doc: &Doc) -> String {
        doc.get_or_insert_text("text").get_string(&doc.transact())
    }

    #[test]
    fn reaches_the_new_text_in_both_offset_kinds() {
        let versions = [
            "",
            "hello world",
            "hello brave new world",
            "héllo 🌍 wörld\n",
            "🌍🌍 line one\nline two 😀\n",
            "line two 😀\n🌍🌍 line one",
            "",
        ];
        for kind in [OffsetKind::Utf16, OffsetKind::Bytes] {
            let doc = doc(kind);
            for pair in versions.windows(2) {
                edit(&doc, pair[0], pair[1]);
                assert_eq!(
                    content(&doc),
                    pair[1],
                    "{kind:?}: {:?} -> {:?}",
                    pair[0],
                    pair[1]
                );
            }
        }
    }

    #[test]
    fn keeps_unchanged_characters_as_they_are() {
        let doc = doc(OffsetKind::Utf16);
        edit(&doc, "", "the quick fox");
        // One insertion for an added word, one deletion for a removed one: not a rewrite.
        assert_eq!(edit(&doc, "the quick fox", "the quick brown fox"), 1);
        assert_eq!(edit(&doc, "the quick brown fox", "the brown fox"), 1);
        assert_eq!(content(&doc), "the brown fox");
        assert_eq!(edit(&doc, "the brown fox", "the brown fox"), 0);
    }

    #[test]
    fn concurrent_edits_elsewhere_survive_a_diff() {
        let ours = doc(OffsetKind::Utf16);
        edit(&ours, "", "alpha\nbeta\n");
        let theirs = doc(OffsetKind::Utf16);
        let shared = ours
            .transact()
            .encode_state_as_update_v1(&Default::default());
        theirs
            .transact_mut()
            .apply_update(yrs::Update::decode_v1(&shared).unwrap())
            .unwrap();
        edit(&theirs, "alpha\nbeta\n", "alpha\nbeta\ngamma\n");
        edit(&ours, "alpha\nbeta\n", "ALPHA\nbeta\n");
        let update = theirs
            .transact()
            .encode_state_as_update_v1(&Default::default());
        ours.transact_mut()
            .apply_update(yrs::Update::decode_v1(&update).unwrap())
            .unwrap();
        assert_eq!(content(&ours), "ALPHA\nbeta\ngamma\n");
    }
}
