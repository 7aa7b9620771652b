//! Checks that a document a client received has the expected text, cheaply when repeated.
//!
//! Join-storm and cold-load clients each receive a whole document (the automerge-paper end
//! state, ~160 KB as an update). Applying it in a yrs document per client would make thousands
//! of clients cost the load generator tens of seconds of CPU and measure the generator instead
//! of the server; but a server encodes one document state the same way each time, so a received
//! update byte-equal to one already applied and checked has the same text. Only new encodings
//! are applied ([`crate::trace::text_of_update`]), so the check stays a real CRDT check.

use bytes::Bytes;

use crate::trace::text_of_update;

/// Distinct encodings remembered; past that every new one is applied (and not remembered).
const REMEMBERED: usize = 16;

/// The expected text and the encodings already shown to have it.
#[derive(Debug)]
pub struct DocumentCheck {
    expected_text: String,
    verified: Vec<Bytes>,
}

impl DocumentCheck {
    /// A check against `expected_text`.
    pub fn new(expected_text: String) -> Self {
        DocumentCheck {
            expected_text,
            verified: Vec::new(),
        }
    }

    /// Whether `update` (a whole document) has the expected text; the error says how not.
    pub fn check(&mut self, update: &Bytes) -> Result<(), String> {
        if self.verified.iter().any(|known| known == update) {
            return Ok(());
        }
        let text = text_of_update(update).map_err(|error| format!("undecodable: {error}"))?;
        if text != self.expected_text {
            return Err(format!(
                "text of {} bytes instead of the expected {} bytes",
                text.len(),
                self.expected_text.len()
            ));
        }
        if self.verified.len() < REMEMBERED {
            self.verified.push(update.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, ReadTxn, StateVector, Text, Transact};

    fn document_with(text: &str) -> Bytes {
        let doc = Doc::new();
        let root = doc.get_or_insert_text(crate::trace::TEXT_NAME);
        root.insert(&mut doc.transact_mut(), 0, text);
        Bytes::from(
            doc.transact()
                .encode_state_as_update_v1(&StateVector::default()),
        )
    }

    #[test]
    fn accepts_the_expected_text_and_refuses_another() {
        let mut check = DocumentCheck::new("hello".to_owned());
        let good = document_with("hello");
        assert_eq!(check.check(&good), Ok(()));
        assert_eq!(check.check(&good), Ok(()));
        assert!(check.check(&document_with("hullo")).is_err());
        assert!(check.check(&Bytes::from_static(&[0xff, 0xff])).is_err());
    }
}
