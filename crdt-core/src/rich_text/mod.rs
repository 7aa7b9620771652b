//! Rich-text documents read out as ProseMirror JSON, HTML or Markdown, in Rust, from the yrs
//! document alone: no browser, no Node, no editor schema needed.
//!
//! A rich document is what y-prosemirror and Tiptap's Collaboration extension write: a
//! `Y.XmlFragment` root (Tiptap names it `default`, y-prosemirror's examples `prosemirror`)
//! holding one `Y.XmlElement` per ProseMirror node. The root is read once into a sanitised tree
//! ([`tree`]), and each format renders that tree ([`html`], [`markdown`], and ProseMirror JSON
//! here). Node and mark names of both Tiptap's and the basic ProseMirror schema are understood
//! ([`schema`]).
//!
//! Which root: the one named, or else the document's only XML fragment. A document with none,
//! or with several and no name given, is an error naming what it does hold, so an HTTP caller
//! gets a clear 400.

mod html;
mod markdown;
mod schema;
mod tree;

use serde_json::{Map, Value};
use yrs::branch::BranchPtr;
use yrs::{Doc, Transact, XmlFragmentRef};

use crate::export::{RootKind, quoted_list, sorted_roots};
pub use tree::{Mark, Node};

/// Why a document has no rich text to export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RichTextError {
    /// The named root does not exist.
    #[error("the document has no root named {name:?}")]
    NoSuchRoot {
        /// The name asked for.
        name: String,
    },
    /// The named root is not an XML fragment.
    #[error("root {name:?} is {kind}, not rich text (an XML fragment)")]
    NotRichText {
        /// The name asked for.
        name: String,
        /// What it holds.
        kind: RootKind,
    },
    /// No root is an XML fragment.
    #[error("the document holds no rich text (no XML fragment root); its roots: {}", quoted_list(.roots))]
    NoRichText {
        /// Every root, sorted.
        roots: Vec<String>,
    },
    /// Elements nest deeper than any editor makes them (see `tree::MAX_DEPTH`).
    #[error("the rich text nests elements deeper than {limit} levels")]
    TooDeep {
        /// The deepest nesting read.
        limit: usize,
    },
    /// Several roots are XML fragments and none was named.
    #[error("the document holds several rich texts ({}): name one", quoted_list(.fragments))]
    SeveralRichTexts {
        /// The XML fragment roots, sorted.
        fragments: Vec<String>,
    },
}

/// The rich text of root `name` (or the only XML fragment) as a tree of nodes.
pub fn read(doc: &Doc, name: Option<&str>) -> Result<Vec<Node>, RichTextError> {
    let transaction = doc.transact();
    let roots = sorted_roots(&transaction);
    let branch = match name {
        Some(name) => {
            let (_, branch, kind) =
                roots
                    .iter()
                    .find(|(root, _, _)| root == name)
                    .ok_or_else(|| RichTextError::NoSuchRoot {
                        name: name.to_owned(),
                    })?;
            match kind {
                RootKind::XmlFragment => *branch,
                RootKind::Empty => return Ok(Vec::new()),
                kind => {
                    return Err(RichTextError::NotRichText {
                        name: name.to_owned(),
                        kind: *kind,
                    });
                }
            }
        }
        None => {
            let fragments: Vec<&(String, BranchPtr, RootKind)> = roots
                .iter()
                .filter(|(_, _, kind)| *kind == RootKind::XmlFragment)
                .collect();
            match fragments.as_slice() {
                [(_, branch, _)] => *branch,
                [] => {
                    return Err(RichTextError::NoRichText {
                        roots: roots.iter().map(|(name, _, _)| name.clone()).collect(),
                    });
                }
                several => {
                    return Err(RichTextError::SeveralRichTexts {
                        fragments: several.iter().map(|(name, _, _)| name.clone()).collect(),
                    });
                }
            }
        }
    };
    tree::read_children(&XmlFragmentRef::from(branch), &transaction, 0).map_err(|tree::TooDeep| {
        RichTextError::TooDeep {
            limit: tree::MAX_DEPTH,
        }
    })
}

/// The rich text as ProseMirror's JSON (`{"type":"doc","content":[…]}`), what
/// `EditorState.doc.toJSON()` gives and `Node.fromJSON` takes.
pub fn to_prosemirror_json(doc: &Doc, name: Option<&str>) -> Result<Value, RichTextError> {
    let nodes = read(doc, name)?;
    let mut document = Map::new();
    document.insert("type".into(), "doc".into());
    document.insert(
        "content".into(),
        Value::Array(nodes.iter().map(node_json).collect()),
    );
    Ok(Value::Object(document))
}

/// The rich text as sanitised HTML (see [`html`]).
pub fn to_html(doc: &Doc, name: Option<&str>) -> Result<String, RichTextError> {
    Ok(html::render(&read(doc, name)?))
}

/// The rich text as Markdown (see [`markdown`]).
pub fn to_markdown(doc: &Doc, name: Option<&str>) -> Result<String, RichTextError> {
    Ok(markdown::render(&read(doc, name)?))
}

/// Markdown of the rich text; for a document (or named root) of plain text, its text as it is,
/// which Markdown shows as written. A document with neither is the rich-text error.
pub fn to_markdown_or_text(doc: &Doc, name: Option<&str>) -> Result<String, RichTextError> {
    match to_markdown(doc, name) {
        Err(
            error @ (RichTextError::NoRichText { .. }
            | RichTextError::NotRichText {
                kind: RootKind::Text,
                ..
            }),
        ) => crate::export::text(doc, name).map_err(|_| error),
        done => done,
    }
}

fn node_json(node: &Node) -> Value {
    let mut object = Map::new();
    match node {
        Node::Element {
            name,
            attributes,
            children,
        } => {
            object.insert("type".into(), name.clone().into());
            if !attributes.is_empty() {
                object.insert("attrs".into(), Value::Object(attributes.clone()));
            }
            if !children.is_empty() {
                object.insert(
                    "content".into(),
                    Value::Array(children.iter().map(node_json).collect()),
                );
            }
        }
        Node::Text { text, marks } => {
            object.insert("type".into(), "text".into());
            object.insert("text".into(), text.clone().into());
            if !marks.is_empty() {
                let marks = marks
                    .iter()
                    .map(|mark| {
                        let mut json = Map::new();
                        json.insert("type".into(), mark.name.clone().into());
                        if !mark.attributes.is_empty() {
                            json.insert("attrs".into(), Value::Object(mark.attributes.clone()));
                        }
                        Value::Object(json)
                    })
                    .collect();
                object.insert("marks".into(), Value::Array(marks));
            }
        }
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests;
