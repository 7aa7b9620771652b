//! A rich-text tree as HTML: known node and mark types as their usual tags, everything else as
//! its content alone.
//!
//! Nothing a client wrote reaches the output unescaped: text and attribute values are escaped,
//! tags come only from the fixed mapping below, and the only attributes written are a link's
//! `href` (http, https or mailto), an image's `src` (http or https), `alt` and `title`, an ordered
//! list's `start` and a code block's `class="language-…"` (a checked name). So the output holds no
//! script, style or event handler, whatever the document holds.

use super::schema::{MarkKind, NodeKind, mark_kind, node_kind};
use super::tree::{Mark, Node};

/// The nodes as HTML.
pub(crate) fn render(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        node_html(node, &mut out);
    }
    out
}

fn node_html(node: &Node, out: &mut String) {
    let (name, attributes, children) = match node {
        Node::Text { text, marks } => return text_html(text, marks, out),
        Node::Element {
            name,
            attributes,
            children,
        } => (name, attributes, children),
    };
    let wrap = |tag: &str, out: &mut String| {
        out.push('<');
        out.push_str(tag);
        out.push('>');
        for child in children {
            node_html(child, out);
        }
        out.push_str("</");
        out.push_str(tag.split(' ').next().unwrap_or(tag));
        out.push('>');
    };
    match node_kind(name, attributes) {
        NodeKind::Paragraph => wrap("p", out),
        NodeKind::Heading(level) => wrap(&format!("h{level}"), out),
        NodeKind::Blockquote => wrap("blockquote", out),
        NodeKind::CodeBlock(language) => {
            out.push_str("<pre><code");
            if let Some(language) = language {
                out.push_str(" class=\"language-");
                escape_into(&language, out);
                out.push('"');
            }
            out.push('>');
            for child in children {
                plain_text_into(child, out);
            }
            out.push_str("</code></pre>");
        }
        NodeKind::BulletList => wrap("ul", out),
        NodeKind::OrderedList(1) => wrap("ol", out),
        NodeKind::OrderedList(start) => wrap(&format!("ol start=\"{start}\""), out),
        NodeKind::ListItem => wrap("li", out),
        NodeKind::HorizontalRule => out.push_str("<hr>"),
        NodeKind::HardBreak => out.push_str("<br>"),
        NodeKind::Image { source, alt, title } => {
            out.push_str("<img src=\"");
            escape_into(&source, out);
            out.push_str("\" alt=\"");
            escape_into(&alt, out);
            out.push('"');
            if let Some(title) = title {
                out.push_str(" title=\"");
                escape_into(&title, out);
                out.push('"');
            }
            out.push('>');
        }
        NodeKind::Other => {
            for child in children {
                node_html(child, out);
            }
        }
    }
}

fn text_html(text: &str, marks: &[Mark], out: &mut String) {
    let mut closing = Vec::new();
    for mark in marks {
        let tag = match mark_kind(&mark.name, &mark.attributes) {
            MarkKind::Bold => "strong",
            MarkKind::Italic => "em",
            MarkKind::Strike => "s",
            MarkKind::Underline => "u",
            MarkKind::Code => "code",
            MarkKind::Link(href) => {
                out.push_str("<a href=\"");
                escape_into(&href, out);
                out.push_str("\">");
                closing.push("a");
                continue;
            }
            MarkKind::Other => continue,
        };
        out.push('<');
        out.push_str(tag);
        out.push('>');
        closing.push(tag);
    }
    escape_into(text, out);
    for tag in closing.into_iter().rev() {
        out.push_str("</");
        out.push_str(tag);
        out.push('>');
    }
}

/// A code block's content: its text, marks and nested nodes dropped.
fn plain_text_into(node: &Node, out: &mut String) {
    match node {
        Node::Text { text, .. } => escape_into(text, out),
        Node::Element { children, .. } => {
            for child in children {
                plain_text_into(child, out);
            }
        }
    }
}

/// Escapes text for element content and for double-quoted attribute values.
fn escape_into(text: &str, out: &mut String) {
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}
