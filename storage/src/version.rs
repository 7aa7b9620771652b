//! Named versions of a document: their ids, what describes them, and the rules a label follows.
//!
//! A version is a full-state snapshot kept on request under a label ("before the big
//! reorganisation"), so an operator or user can list, fetch and restore it later. It lives beside
//! the document's own snapshot-plus-log rather than in it: compaction never touches versions and
//! only deleting the document removes them. Like everything else here the snapshot is opaque
//! bytes; the caller decides what a version holds (Quire stores a Yjs update of the whole
//! document).
//!
//! Ids are per-document integers that start at 1 and only grow, written in decimal. That makes
//! them sort by age, keeps them short enough for a URL, and keeps an id meaning the same version
//! for as long as the document exists.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

/// Longest permitted version label, in UTF-8 bytes.
pub const MAX_VERSION_LABEL_BYTES: usize = 256;

/// Identifies one version of one document.
///
/// Ids are allocated by the store: 1 for a document's first version, then one more than the
/// highest id the document holds. The text form is the decimal number, which is also the only
/// form [`FromStr`] accepts (no sign, no leading zeros), so each id has exactly one spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionId(pub u64);

impl VersionId {
    /// The id a document's first version receives.
    pub const FIRST: VersionId = VersionId(1);

    /// The id that follows this one.
    pub fn next(self) -> VersionId {
        // 2^64 versions of one document cannot be created in practice; saturating keeps the
        // arithmetic total without a panic path.
        VersionId(self.0.saturating_add(1))
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

impl FromStr for VersionId {
    type Err = InvalidVersionId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidVersionId {
            given: text.to_owned(),
        };
        // `u64::from_str` also accepts a leading '+' and leading zeros; refusing them keeps one
        // spelling per id, so ids can be compared and cached as strings.
        if !text.bytes().all(|byte| byte.is_ascii_digit()) || text.starts_with('0') {
            return Err(invalid());
        }
        text.parse::<u64>().map(VersionId).map_err(|_| invalid())
    }
}

/// Why a string is not a version id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a version id (a decimal number from 1, without leading zeros)")]
pub struct InvalidVersionId {
    /// The text that was refused.
    pub given: String,
}

/// What describes a stored version, without its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionMeta {
    /// The version's id within its document.
    pub id: VersionId,
    /// The label it was created with.
    pub label: String,
    /// When it was created (millisecond precision, as stored).
    pub created_at: SystemTime,
    /// Size of its snapshot in bytes (record header excluded).
    pub bytes: u64,
}

/// Why a version label was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidVersionLabel {
    /// The label is longer than [`MAX_VERSION_LABEL_BYTES`].
    #[error("version label is {length} bytes, over the {MAX_VERSION_LABEL_BYTES}-byte limit")]
    TooLong {
        /// The label's length in bytes.
        length: usize,
    },
    /// The label contains a control character (C0, DEL or C1), which has no place in a name
    /// shown in lists and logs.
    #[error("version label contains control character {character:?} at byte {byte_offset}")]
    ControlCharacter {
        /// The offending character.
        character: char,
        /// Its byte offset in the label.
        byte_offset: usize,
    },
}

/// Checks `label` against the label rules. The empty label is allowed: a version needs an id,
/// not a name.
pub fn validate_version_label(label: &str) -> Result<(), InvalidVersionLabel> {
    if label.len() > MAX_VERSION_LABEL_BYTES {
        return Err(InvalidVersionLabel::TooLong {
            length: label.len(),
        });
    }
    match crate::document_id::first_control_character(label) {
        Some((byte_offset, character)) => Err(InvalidVersionLabel::ControlCharacter {
            character,
            byte_offset,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_decimal_form() {
        for number in [1, 9, 10, 4_294_967_296, u64::MAX] {
            let id = VersionId(number);
            assert_eq!(id.to_string().parse::<VersionId>(), Ok(id));
        }
        assert_eq!("42".parse::<VersionId>(), Ok(VersionId(42)));
    }

    #[test]
    fn ids_have_one_spelling() {
        for bad in [
            "",
            "0",
            "007",
            "+7",
            "-7",
            " 7",
            "7 ",
            "7a",
            "١",
            "18446744073709551616",
        ] {
            let error = bad.parse::<VersionId>().expect_err(bad);
            assert_eq!(error.given, bad);
        }
    }

    #[test]
    fn ids_sort_numerically() {
        assert!(VersionId(9) < VersionId(10));
        assert_eq!(VersionId(9).next(), VersionId(10));
        assert_eq!(VersionId(u64::MAX).next(), VersionId(u64::MAX));
    }

    #[test]
    fn labels_are_bounded_and_printable() {
        assert_eq!(validate_version_label(""), Ok(()));
        assert_eq!(validate_version_label("before the rewrite — v2 ✓"), Ok(()));
        assert_eq!(
            validate_version_label(&"x".repeat(MAX_VERSION_LABEL_BYTES)),
            Ok(())
        );
        assert_eq!(
            validate_version_label(&"é".repeat(129)),
            Err(InvalidVersionLabel::TooLong { length: 258 })
        );
        assert_eq!(
            validate_version_label("line\nbreak"),
            Err(InvalidVersionLabel::ControlCharacter {
                character: '\n',
                byte_offset: 4
            })
        );
        assert!(validate_version_label("\u{85}").is_err());
    }
}
