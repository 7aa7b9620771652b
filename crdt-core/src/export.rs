//! Reading a document out: as Yjs updates (v1 or v2), as JSON, or as plain text (rich text as
//! HTML, Markdown or ProseMirror JSON is [`crate::rich_text`]).
//!
//! Pure functions from a [`Doc`] to bytes or values, so the storage CLI and the HTTP API share
//! one reading of a document and tests need no I/O.
//!
//! The subtle part is the root types. A Yjs update does not record whether a root is a text, a
//! map or an array: each client decides that when it calls `doc.getText(name)`. A server that
//! only ever applied updates from clients therefore sees every root as undefined, and its kind
//! has to be inferred from what the root holds (see [`RootKind`] and [`roots`]). Reading is done
//! through read-only transactions and never fixes a root's kind in the document, so exporting
//! cannot change how a later client's declaration is honoured.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use yrs::branch::BranchPtr;
use yrs::types::text::YChange;
use yrs::types::{ToJson, TypeRef};
use yrs::updates::encoder::Encode;
use yrs::{
    Any, Array, ArrayRef, Doc, GetString, Map, MapRef, Out, ReadTxn, StateVector, Text, TextRef,
    Transact, XmlElementRef, XmlFragmentRef, XmlTextRef,
};

/// How a document can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The whole document as one Yjs v1 update (what `Y.encodeStateAsUpdate` produces).
    Update,
    /// The whole document as one Yjs v2 update (`Y.encodeStateAsUpdateV2`).
    UpdateV2,
    /// Every root type as JSON, see [`to_json`].
    Json,
    /// The plain text of one root text, see [`text`].
    Text,
    /// Rich text (an XML fragment) as sanitised HTML, see [`crate::rich_text::to_html`].
    Html,
    /// Rich text as Markdown, or a plain text document's text as it is.
    Markdown,
    /// Rich text as ProseMirror's JSON, see [`crate::rich_text::to_prosemirror_json`].
    ProsemirrorJson,
}

impl ExportFormat {
    /// Every format, in the order they are offered.
    pub const ALL: [ExportFormat; 7] = [
        ExportFormat::Update,
        ExportFormat::UpdateV2,
        ExportFormat::Json,
        ExportFormat::Text,
        ExportFormat::Html,
        ExportFormat::Markdown,
        ExportFormat::ProsemirrorJson,
    ];

    /// The name the format is chosen by (`"update-v2"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Update => "update",
            ExportFormat::UpdateV2 => "update-v2",
            ExportFormat::Json => "json",
            ExportFormat::Text => "text",
            ExportFormat::Html => "html",
            ExportFormat::Markdown => "markdown",
            ExportFormat::ProsemirrorJson => "prosemirror-json",
        }
    }

    /// True for the formats that are bytes rather than text.
    pub fn is_binary(self) -> bool {
        matches!(self, ExportFormat::Update | ExportFormat::UpdateV2)
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for ExportFormat {
    type Err = ExportError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ExportFormat::ALL
            .into_iter()
            .find(|format| format.name() == name)
            .ok_or_else(|| ExportError::UnknownFormat {
                given: name.to_owned(),
            })
    }
}

/// Why a document could not be exported as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The format name is none of [`ExportFormat::ALL`].
    #[error("unknown export format {given:?}: expected one of {}", format_names())]
    UnknownFormat {
        /// The name that was asked for.
        given: String,
    },

    /// The document has no root type of that name.
    #[error("the document has no root named {name:?} (its roots: {})", quoted_list(.available))]
    NoSuchRoot {
        /// The name that was asked for.
        name: String,
        /// The roots the document does have.
        available: Vec<String>,
    },

    /// The named root exists but holds something other than text.
    #[error("root {name:?} is {kind}, not text")]
    NotText {
        /// The root that was asked for.
        name: String,
        /// What it holds instead.
        kind: RootKind,
    },

    /// No root was named and the document holds no root text.
    #[error("the document holds no root text (its roots: {})", quoted_list(.roots))]
    NoText {
        /// The roots the document does have.
        roots: Vec<String>,
    },

    /// No root was named and the document holds several root texts, so the choice is the
    /// caller's.
    #[error("the document holds several root texts ({}): name one", quoted_list(.texts))]
    SeveralTexts {
        /// The root texts, sorted.
        texts: Vec<String>,
    },
}

/// What a root type holds, declared by a local `get_or_insert_*` or inferred from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    /// A `Y.Text`: runs of characters, maybe formatted, maybe with embeds.
    Text,
    /// A `Y.Map`.
    Map,
    /// A `Y.Array`.
    Array,
    /// A `Y.XmlFragment` (what y-prosemirror and y-tiptap edit).
    XmlFragment,
    /// A `Y.XmlElement` used as a root.
    XmlElement,
    /// A `Y.XmlText` used as a root.
    XmlText,
    /// An undefined root with no visible content (everything in it was deleted): nothing says
    /// what it was. It reads as an empty array in JSON and as empty text.
    Empty,
}

impl fmt::Display for RootKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            RootKind::Text => "a text",
            RootKind::Map => "a map",
            RootKind::Array => "an array",
            RootKind::XmlFragment => "an XML fragment",
            RootKind::XmlElement => "an XML element",
            RootKind::XmlText => "an XML text",
            RootKind::Empty => "empty",
        })
    }
}

/// The whole document as one Yjs v1 update; with `since`, only what that state vector lacks.
pub fn encode_update(doc: &Doc, since: Option<&StateVector>) -> Vec<u8> {
    let transaction = doc.transact();
    match since {
        Some(state) => transaction.encode_state_as_update_v1(state),
        None => transaction.encode_state_as_update_v1(&StateVector::default()),
    }
}

/// The whole document as one Yjs v2 update; with `since`, only what that state vector lacks.
pub fn encode_update_v2(doc: &Doc, since: Option<&StateVector>) -> Vec<u8> {
    let transaction = doc.transact();
    match since {
        Some(state) => transaction.encode_state_as_update_v2(state),
        None => transaction.encode_state_as_update_v2(&StateVector::default()),
    }
}

/// The document's state vector, v1-encoded (what `Y.encodeStateVector` produces).
pub fn state_vector(doc: &Doc) -> Vec<u8> {
    doc.transact().state_vector().encode_v1()
}

/// Every root type of the document and what it holds, sorted by name.
pub fn roots(doc: &Doc) -> Vec<(String, RootKind)> {
    let transaction = doc.transact();
    let mut roots: Vec<(String, RootKind)> = root_branches(&transaction)
        .into_iter()
        .map(|(name, branch)| (name, kind_of(branch, &transaction)))
        .collect();
    roots.sort_by(|left, right| left.0.cmp(&right.0));
    roots
}

/// Every root type as one JSON object keyed by root name: a text as its string, a map as an
/// object, an array as an array, XML as its string form (`<p>hello</p>`).
///
/// Values nested in maps and arrays follow yrs's JSON reading: nested texts and XML become
/// strings. A binary value becomes an array of byte values, `undefined` and non-finite numbers
/// become `null` (as `JSON.stringify` does), and object keys are sorted so the output is stable.
pub fn to_json(doc: &Doc) -> Value {
    let transaction = doc.transact();
    let mut roots = root_branches(&transaction);
    roots.sort_by(|left, right| left.0.cmp(&right.0));
    let object = roots
        .into_iter()
        .map(|(name, branch)| (name, root_json(branch, &transaction)))
        .collect();
    Value::Object(object)
}

/// One root's value as [`to_json`] renders it.
pub fn root_to_json(doc: &Doc, name: &str) -> Result<Value, ExportError> {
    let transaction = doc.transact();
    let roots = root_branches(&transaction);
    match roots.iter().find(|(root, _)| root == name) {
        Some((_, branch)) => Ok(root_json(*branch, &transaction)),
        None => Err(ExportError::NoSuchRoot {
            name: name.to_owned(),
            available: sorted_names(&roots),
        }),
    }
}

/// The plain text (formatting and embeds dropped) of the root text `name`, or without a name of
/// the document's only root text.
///
/// A root that lost all its content ([`RootKind::Empty`]) reads as empty text: by name always,
/// and without a name when the document holds no other root text.
pub fn text(doc: &Doc, name: Option<&str>) -> Result<String, ExportError> {
    let transaction = doc.transact();
    let roots = sorted_roots(&transaction);
    let root_names = || roots.iter().map(|(name, _, _)| name.clone()).collect();

    let chosen = match name {
        Some(name) => {
            let (_, branch, kind) =
                roots
                    .iter()
                    .find(|(root, _, _)| root == name)
                    .ok_or_else(|| ExportError::NoSuchRoot {
                        name: name.to_owned(),
                        available: root_names(),
                    })?;
            match kind {
                RootKind::Text | RootKind::Empty => *branch,
                kind => {
                    return Err(ExportError::NotText {
                        name: name.to_owned(),
                        kind: *kind,
                    });
                }
            }
        }
        None => {
            let of_kind = |wanted: RootKind| -> Vec<&(String, BranchPtr, RootKind)> {
                roots
                    .iter()
                    .filter(|(_, _, kind)| *kind == wanted)
                    .collect()
            };
            let mut candidates = of_kind(RootKind::Text);
            if candidates.is_empty() {
                candidates = of_kind(RootKind::Empty);
            }
            match candidates.as_slice() {
                [(_, branch, _)] => *branch,
                [] => {
                    return Err(ExportError::NoText {
                        roots: root_names(),
                    });
                }
                several => {
                    return Err(ExportError::SeveralTexts {
                        texts: several.iter().map(|(name, _, _)| name.clone()).collect(),
                    });
                }
            }
        }
    };
    Ok(TextRef::from(chosen).get_string(&transaction))
}

/// The document's roots with their kinds, sorted by name.
pub(crate) fn sorted_roots(transaction: &impl ReadTxn) -> Vec<(String, BranchPtr, RootKind)> {
    let mut roots: Vec<(String, BranchPtr, RootKind)> = root_branches(transaction)
        .into_iter()
        .map(|(name, branch)| {
            let kind = kind_of(branch, transaction);
            (name, branch, kind)
        })
        .collect();
    roots.sort_by(|left, right| left.0.cmp(&right.0));
    roots
}

/// The document's roots as branches, in no particular order.
pub(crate) fn root_branches(transaction: &impl ReadTxn) -> Vec<(String, BranchPtr)> {
    transaction
        .root_refs()
        .filter_map(|(name, value)| {
            let branch = value.try_branch()?;
            Some((name.to_owned(), BranchPtr::from(branch)))
        })
        .collect()
}

/// The kind a root was declared with, or for an undefined root the kind its content implies.
pub(crate) fn kind_of(branch: BranchPtr, transaction: &impl ReadTxn) -> RootKind {
    match branch.type_ref() {
        TypeRef::Text => RootKind::Text,
        TypeRef::Map => RootKind::Map,
        TypeRef::Array => RootKind::Array,
        TypeRef::XmlFragment => RootKind::XmlFragment,
        TypeRef::XmlElement(_) => RootKind::XmlElement,
        TypeRef::XmlText => RootKind::XmlText,
        _ => infer_kind(branch, transaction),
    }
}

/// Infers an undefined root's kind from its content, the way Yjs clients would have made it:
///
/// - keyed entries only exist in maps;
/// - strings, formatting marks and embeds only exist in texts (an array's values, strings
///   included, are stored as another kind of content);
/// - XML elements and XML texts in the sequence make an XML fragment;
/// - any other sequence is an array.
///
/// Reading the root through a text's diff is what tells these apart with yrs's public API: the
/// diff yields the text runs and embeds (including nested types) and skips array values.
fn infer_kind(branch: BranchPtr, transaction: &impl ReadTxn) -> RootKind {
    if MapRef::from(branch).len(transaction) > 0 {
        return RootKind::Map;
    }
    let chunks = TextRef::from(branch).diff(transaction, YChange::identity);
    if chunks
        .iter()
        .any(|chunk| matches!(chunk.insert, Out::Any(_)))
    {
        return RootKind::Text;
    }
    if chunks
        .iter()
        .any(|chunk| matches!(chunk.insert, Out::YXmlElement(_) | Out::YXmlText(_)))
    {
        return RootKind::XmlFragment;
    }
    // Formatting marks do not count towards a text's length, so a text holding only those is
    // empty here too, which is what it reads as.
    if branch.len() == 0 {
        return RootKind::Empty;
    }
    RootKind::Array
}

/// How deeply shared types may nest for [`to_json`] to render a root. yrs renders nested types
/// recursively, and a client can nest them as deep as it likes at a few bytes a level: 50,000
/// nested XML elements (a 1.2 MB update) overflowed the stack of the thread exporting them, which
/// aborts the whole process. A root nested deeper reads as [`TOO_DEEP`] instead.
pub const MAX_JSON_DEPTH: usize = 128;

/// What a root nested deeper than [`MAX_JSON_DEPTH`] reads as in [`to_json`].
pub const TOO_DEEP: &str = "(not exported: shared types nested deeper than 128 levels)";

/// Whether any root of the document nests shared types deeper than `limit`, found without
/// recursing: the guard for work that does recurse over them (a version restore).
pub(crate) fn any_root_deeper_than(transaction: &impl ReadTxn, limit: usize) -> bool {
    root_branches(transaction)
        .into_iter()
        .any(|(_, branch)| nested_deeper_than(branch, limit, transaction))
}

/// Whether types nest deeper than `limit` under `root`, found without recursing.
fn nested_deeper_than(root: BranchPtr, limit: usize, transaction: &impl ReadTxn) -> bool {
    let mut pending = vec![(root, 0_usize)];
    while let Some((branch, depth)) = pending.pop() {
        if depth > limit {
            return true;
        }
        let mut children = Vec::new();
        let mut take = |value: &Out| {
            if let Some(child) = value.try_branch() {
                children.push(BranchPtr::from(child));
            }
        };
        // Whatever its kind, a branch may hold keyed entries (a map's, or an XML node's
        // attributes, which may be shared types too) and a sequence (whose items need not be
        // what its kind suggests: an XML element can hold a plain value first). Both are read,
        // as a restore reads them, so nothing nested hides from the measure.
        MapRef::from(branch)
            .iter(transaction)
            .for_each(|(_, value)| take(&value));
        match kind_of(branch, transaction) {
            RootKind::Map => {}
            RootKind::Text | RootKind::XmlText => TextRef::from(branch)
                .diff(transaction, YChange::identity)
                .iter()
                .for_each(|chunk| take(&chunk.insert)),
            RootKind::Array | RootKind::Empty | RootKind::XmlFragment | RootKind::XmlElement => {
                ArrayRef::from(branch)
                    .iter(transaction)
                    .for_each(|value| take(&value))
            }
        }
        pending.extend(children.into_iter().map(|child| (child, depth + 1)));
    }
    false
}

/// A root's value by its kind; see [`to_json`].
fn root_json(branch: BranchPtr, transaction: &impl ReadTxn) -> Value {
    if nested_deeper_than(branch, MAX_JSON_DEPTH, transaction) {
        return Value::String(TOO_DEEP.to_owned());
    }
    match kind_of(branch, transaction) {
        RootKind::Text => Value::String(TextRef::from(branch).get_string(transaction)),
        RootKind::Map => any_to_json(MapRef::from(branch).to_json(transaction)),
        RootKind::Array | RootKind::Empty => {
            any_to_json(ArrayRef::from(branch).to_json(transaction))
        }
        RootKind::XmlFragment => {
            Value::String(XmlFragmentRef::from(branch).get_string(transaction))
        }
        RootKind::XmlElement => Value::String(XmlElementRef::from(branch).get_string(transaction)),
        RootKind::XmlText => Value::String(XmlTextRef::from(branch).get_string(transaction)),
    }
}

fn sorted_names(roots: &[(String, BranchPtr)]) -> Vec<String> {
    let mut names: Vec<String> = roots.iter().map(|(name, _)| name.clone()).collect();
    names.sort();
    names
}

/// yrs's JSON-like value as JSON proper.
pub(crate) fn any_to_json(value: Any) -> Value {
    match value {
        Any::Null | Any::Undefined => Value::Null,
        Any::Bool(flag) => Value::Bool(flag),
        Any::Number(yrs::any::Number::Int(integer)) => Value::from(integer),
        Any::Number(yrs::any::Number::Float(float)) => {
            serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number)
        }
        Any::String(string) => Value::String(string.to_string()),
        Any::Buffer(bytes) => Value::Array(bytes.iter().map(|byte| Value::from(*byte)).collect()),
        Any::Array(items) => Value::Array(items.iter().cloned().map(any_to_json).collect()),
        Any::Map(entries) => {
            let mut sorted: Vec<(&String, &Any)> = entries.iter().collect();
            sorted.sort_by(|left, right| left.0.cmp(right.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(key, value)| (key.clone(), any_to_json(value.clone())))
                    .collect(),
            )
        }
    }
}

fn format_names() -> String {
    ExportFormat::ALL
        .iter()
        .map(|format| format.name())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
