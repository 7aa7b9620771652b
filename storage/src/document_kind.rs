//! What kind of document a document is: plain text or rich text.
//!
//! The kind is chosen when a document is created and stored in its entry, so
//! every node, listing and export agrees on it without opening the document.
//! The store keeps it as one flag bit and never looks inside the content; what
//! a kind means for the content (which shared type the editors use, which
//! export formats apply) is the server's business.

use std::fmt;
use std::str::FromStr;

/// The kind of a document, fixed at creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Plain text in a `Y.Text` (the web editor's CodeMirror). Documents
    /// created implicitly, by a first edit, are text, and so is every document
    /// stored before kinds existed.
    #[default]
    Text,
    /// Rich text in a `Y.XmlFragment`, as ProseMirror, y-prosemirror and
    /// Tiptap write it.
    Rich,
}

impl DocumentKind {
    /// Every kind, in the order documentation lists them.
    pub const ALL: [DocumentKind; 2] = [DocumentKind::Text, DocumentKind::Rich];

    /// The kind's name in the API, the CLI and the config: `text` or `rich`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Text => "text",
            DocumentKind::Rich => "rich",
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A kind name that is neither `text` nor `rich`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown document kind {0:?}: expected \"text\" or \"rich\"")]
pub struct UnknownDocumentKind(pub String);

impl FromStr for DocumentKind {
    type Err = UnknownDocumentKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        DocumentKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownDocumentKind(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_kind_and_nothing_else_parses() {
        for kind in DocumentKind::ALL {
            assert_eq!(kind.as_str().parse::<DocumentKind>(), Ok(kind));
        }
        for wrong in ["", "Rich", "TEXT", "markdown", " rich"] {
            assert_eq!(
                wrong.parse::<DocumentKind>(),
                Err(UnknownDocumentKind(wrong.to_owned()))
            );
        }
    }
}
