//! A rich-text root read into a ProseMirror-shaped tree, the one reading every export renders.
//!
//! y-prosemirror (and Tiptap's Collaboration extension, which uses it) stores a ProseMirror
//! document as a `Y.XmlFragment`: each node becomes a `Y.XmlElement` named after the node type,
//! its attributes the node's attributes; each run of text becomes part of a `Y.XmlText`, its
//! marks the run's formatting attributes (mark name to the mark's attributes). Marks that may
//! overlap are stored as `name--<hash>`; the suffix is dropped here.
//!
//! What a client put in attributes is not trusted: keys that name event handlers or styles are
//! dropped, and links whose target is not `http:`, `https:` or `mailto:` lose their link (the
//! text stays), so every export inherits the same sanitising.

use serde_json::{Map, Value};
use yrs::types::text::YChange;
use yrs::{Any, Out, ReadTxn, Text, Xml, XmlElementRef, XmlFragment, XmlOut, XmlTextRef};

use crate::export::any_to_json;

/// One node: an element with its children, or a run of text with its marks.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A ProseMirror node (`paragraph`, `heading`, `bulletList`, ...).
    Element {
        /// The node type's name, as the editor's schema names it.
        name: String,
        /// Its attributes, sanitised.
        attributes: Map<String, Value>,
        children: Vec<Node>,
    },
    /// A run of text with the same marks.
    Text { text: String, marks: Vec<Mark> },
}

/// A mark on a run of text (`bold`, `link`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// The mark type's name, without y-prosemirror's overlap suffix.
    pub name: String,
    /// Its attributes, sanitised.
    pub attributes: Map<String, Value>,
}

/// How deeply elements may nest. Reading and rendering recurse once per level, and a client can
/// nest elements as deep as it likes at a few bytes a level: unbounded, one such document would
/// overflow the stack of the thread exporting it. Real documents stay far below (a quote in a
/// list in a list is 4).
pub const MAX_DEPTH: usize = 128;

/// Elements nested deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooDeep;

/// The children of a fragment or element at `depth`, read as nodes.
pub(crate) fn read_children<T: ReadTxn>(
    parent: &impl XmlFragment,
    transaction: &T,
    depth: usize,
) -> Result<Vec<Node>, TooDeep> {
    if depth > MAX_DEPTH {
        return Err(TooDeep);
    }
    let mut nodes = Vec::new();
    for child in parent.children(transaction) {
        match child {
            XmlOut::Element(element) => nodes.push(read_element(&element, transaction, depth)?),
            XmlOut::Fragment(fragment) => {
                nodes.extend(read_children(&fragment, transaction, depth + 1)?);
            }
            XmlOut::Text(text) => nodes.extend(read_text(&text, transaction)),
        }
    }
    Ok(nodes)
}

fn read_element<T: ReadTxn>(
    element: &XmlElementRef,
    transaction: &T,
    depth: usize,
) -> Result<Node, TooDeep> {
    let mut attributes = Map::new();
    for (key, value) in element.attributes(transaction) {
        if allowed_attribute(key) {
            attributes.insert(key.to_owned(), out_to_json(value, transaction));
        }
    }
    Ok(Node::Element {
        name: element.tag().to_string(),
        attributes,
        children: read_children(element, transaction, depth + 1)?,
    })
}

fn read_text<T: ReadTxn>(text: &XmlTextRef, transaction: &T) -> Vec<Node> {
    text.diff(transaction, YChange::identity)
        .into_iter()
        .filter_map(|chunk| {
            let Out::Any(Any::String(run)) = chunk.insert else {
                // Embeds inside a text have no ProseMirror meaning.
                return None;
            };
            let mut marks: Vec<Mark> = chunk
                .attributes
                .map(|attributes| {
                    attributes
                        .iter()
                        .filter_map(|(key, value)| mark(key, value))
                        .collect()
                })
                .unwrap_or_default();
            marks.sort_by(|left, right| left.name.cmp(&right.name));
            Some(Node::Text {
                text: run.to_string(),
                marks,
            })
        })
        .collect()
}

/// A mark from a formatting attribute; `None` for one that cannot be kept (a link to a
/// disallowed target, or formatting switched off).
fn mark(key: &str, value: &Any) -> Option<Mark> {
    let name = key
        .split_once("--")
        .map_or(key, |(name, _)| name)
        .to_owned();
    let attributes = match any_to_json(value.clone()) {
        Value::Object(object) => object
            .into_iter()
            .filter(|(key, _)| allowed_attribute(key))
            .collect(),
        // Quill-style formatting (`bold: true`) has no attributes; `false`/`null` is no mark.
        Value::Bool(true) => Map::new(),
        _ => return None,
    };
    if matches!(name.as_str(), "link" | "a") {
        let href = attributes.get("href").and_then(Value::as_str)?;
        if !allowed_link(href) {
            return None;
        }
    }
    Some(Mark { name, attributes })
}

fn out_to_json<T: ReadTxn>(value: Out, transaction: &T) -> Value {
    match value {
        Out::Any(any) => any_to_json(any),
        other => Value::String(other.to_string(transaction)),
    }
}

/// Attribute keys kept: not event handlers (`on...`), not styles, not raw markup.
fn allowed_attribute(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    !(lower.starts_with("on") || lower == "style" || lower == "srcdoc" || lower == "innerhtml")
}

/// Whether a link may point at `target`: only `http:`, `https:` and `mailto:` URLs.
pub(crate) fn allowed_link(target: &str) -> bool {
    let trimmed = target.trim();
    let Some((scheme, rest)) = trimmed.split_once(':') else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    let control = trimmed.chars().any(char::is_control);
    !control
        && !rest.is_empty()
        && match scheme.as_str() {
            "http" | "https" => rest.starts_with("//"),
            "mailto" => true,
            _ => false,
        }
}
