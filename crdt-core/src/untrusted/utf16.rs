//! The length of a string in UTF-16 code units, the unit yrs and Yjs measure text in.
//!
//! The update walk measures every string it reads, and `str::encode_utf16().count()` decodes
//! each character to do it: for a 1 MB paste that was about 6% of the server's CPU while a room
//! received one a second fifty times (W3's flood, issue #20). Counting bytes gives the same
//! number without decoding: every character but a continuation byte starts one unit, and a
//! four-byte character (a leader byte of `0xF0` or more) needs a second.

/// Code units of `text` in UTF-16.
pub(crate) fn utf16_length(text: &str) -> u64 {
    if text.is_ascii() {
        return text.len() as u64;
    }
    text.bytes()
        .map(|byte| u64::from(byte & 0xC0 != 0x80) + u64::from(byte >= 0xF0))
        .sum()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::utf16_length;

    #[test]
    fn counts_every_width_of_character() {
        for text in [
            "",
            "abc",
            "é",
            "日本語",
            "😀",
            "a😀é日",
            "\u{10FFFF}\u{7F}\u{80}\u{800}",
        ] {
            assert_eq!(
                utf16_length(text),
                text.encode_utf16().count() as u64,
                "{text:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_encoding_to_utf16(text in any::<String>()) {
            prop_assert_eq!(utf16_length(&text), text.encode_utf16().count() as u64);
        }
    }
}
