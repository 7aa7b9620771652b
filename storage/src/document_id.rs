//! The rules a document id must follow before it reaches storage.
//!
//! Ids arrive from URLs and clients, so they are checked once here rather than
//! trusted: at most 512 bytes of UTF-8 (keeping keys small and bounded), not
//! empty, and free of control characters (which have no business in an id
//! and make logs ambiguous). Anything else, `/` and non-ASCII included, is
//! allowed; the key layout keeps such ids from colliding.

/// Longest permitted document id, in UTF-8 bytes.
pub const MAX_DOCUMENT_ID_BYTES: usize = 512;

/// Why a document id was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDocumentId {
    /// The id is the empty string.
    #[error("document id is empty")]
    Empty,
    /// The id is longer than [`MAX_DOCUMENT_ID_BYTES`].
    #[error("document id is {length} bytes, over the {MAX_DOCUMENT_ID_BYTES}-byte limit")]
    TooLong {
        /// The id's length in bytes.
        length: usize,
    },
    /// The id contains a control character (C0, DEL or C1).
    #[error("document id contains control character {character:?} at byte {byte_offset}")]
    ControlCharacter {
        /// The offending character.
        character: char,
        /// Its byte offset in the id.
        byte_offset: usize,
    },
}

/// Checks `id` against the document id rules.
pub fn validate_document_id(id: &str) -> Result<(), InvalidDocumentId> {
    if id.is_empty() {
        return Err(InvalidDocumentId::Empty);
    }
    if id.len() > MAX_DOCUMENT_ID_BYTES {
        return Err(InvalidDocumentId::TooLong { length: id.len() });
    }
    match first_control_character(id) {
        Some((byte_offset, character)) => Err(InvalidDocumentId::ControlCharacter {
            character,
            byte_offset,
        }),
        None => Ok(()),
    }
}

/// The first control character of `text` and its byte offset: names and labels refuse them,
/// since they make one value look like another in logs, listings and files.
pub(crate) fn first_control_character(text: &str) -> Option<(usize, char)> {
    text.char_indices()
        .find(|(_, character)| character.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_slashes_unicode_and_the_maximum_length() {
        assert_eq!(validate_document_id("team/notes/2024"), Ok(()));
        assert_eq!(validate_document_id("笔记 📝"), Ok(()));
        assert_eq!(
            validate_document_id(&"x".repeat(MAX_DOCUMENT_ID_BYTES)),
            Ok(())
        );
    }

    #[test]
    fn refuses_empty_long_and_control_characters() {
        assert_eq!(validate_document_id(""), Err(InvalidDocumentId::Empty));
        assert_eq!(
            validate_document_id(&"x".repeat(MAX_DOCUMENT_ID_BYTES + 1)),
            Err(InvalidDocumentId::TooLong { length: 513 })
        );
        assert_eq!(
            validate_document_id("a\nb"),
            Err(InvalidDocumentId::ControlCharacter {
                character: '\n',
                byte_offset: 1
            })
        );
        assert!(validate_document_id("a\u{85}").is_err());
    }
}
