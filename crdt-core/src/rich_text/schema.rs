//! What the node and mark names of the two common ProseMirror schemas mean, for the renderers.
//!
//! Tiptap names its types in camelCase (`bulletList`, `codeBlock`, `hardBreak`, `bold`), the
//! basic ProseMirror schema (`prosemirror-schema-basic`/`-list`, y-prosemirror's examples) in
//! snake_case (`bullet_list`, `code_block`, `hard_break`, `strong`). Both are read here; a name
//! neither uses is [`NodeKind::Other`] and rendered as its content alone.

use serde_json::{Map, Value};

use super::tree::allowed_link;

/// What a node is, for rendering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Paragraph,
    /// Level 1 to 6.
    Heading(u8),
    Blockquote,
    /// With its language, if one is named (letters, digits, `+`, `-`, `_` and `#` only).
    CodeBlock(Option<String>),
    BulletList,
    /// With the number it starts from.
    OrderedList(u64),
    ListItem,
    HorizontalRule,
    HardBreak,
    /// An image with an allowed source (`http:`/`https:`); others are left out.
    Image {
        source: String,
        alt: String,
        title: Option<String>,
    },
    /// A type neither schema has: rendered as its content.
    Other,
}

/// What a mark is, for rendering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MarkKind {
    Bold,
    Italic,
    Strike,
    Underline,
    Code,
    /// A link to an allowed target (checked when the tree was read).
    Link(String),
    Other,
}

pub(crate) fn node_kind(name: &str, attributes: &Map<String, Value>) -> NodeKind {
    match name {
        "paragraph" => NodeKind::Paragraph,
        "heading" => {
            let level = attributes
                .get("level")
                .and_then(number)
                .unwrap_or(1)
                .clamp(1, 6);
            NodeKind::Heading(level as u8)
        }
        "blockquote" => NodeKind::Blockquote,
        "codeBlock" | "code_block" => NodeKind::CodeBlock(
            attributes
                .get("language")
                .and_then(Value::as_str)
                .filter(|language| {
                    !language.is_empty()
                        && language.len() <= 64
                        && language
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-_#".contains(c))
                })
                .map(str::to_owned),
        ),
        "bulletList" | "bullet_list" => NodeKind::BulletList,
        "orderedList" | "ordered_list" => NodeKind::OrderedList(
            ["start", "order"]
                .iter()
                .find_map(|key| attributes.get(*key).and_then(number))
                .unwrap_or(1),
        ),
        "listItem" | "list_item" => NodeKind::ListItem,
        "horizontalRule" | "horizontal_rule" => NodeKind::HorizontalRule,
        "hardBreak" | "hard_break" => NodeKind::HardBreak,
        "image" => {
            let text = |key: &str| attributes.get(key).and_then(Value::as_str);
            match text("src") {
                Some(source)
                    if allowed_link(source)
                        && !source.trim().to_ascii_lowercase().starts_with("mailto:") =>
                {
                    NodeKind::Image {
                        source: source.to_owned(),
                        alt: text("alt").unwrap_or_default().to_owned(),
                        title: text("title").map(str::to_owned),
                    }
                }
                _ => NodeKind::Other,
            }
        }
        _ => NodeKind::Other,
    }
}

pub(crate) fn mark_kind(name: &str, attributes: &Map<String, Value>) -> MarkKind {
    match name {
        "bold" | "strong" => MarkKind::Bold,
        "italic" | "em" => MarkKind::Italic,
        "strike" | "strikethrough" | "s" => MarkKind::Strike,
        "underline" => MarkKind::Underline,
        "code" => MarkKind::Code,
        "link" | "a" => match attributes.get("href").and_then(Value::as_str) {
            Some(href) => MarkKind::Link(href.trim().to_owned()),
            None => MarkKind::Other,
        },
        _ => MarkKind::Other,
    }
}

/// A non-negative whole number from JSON (`2`, `2.0` or `"2"`).
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}
