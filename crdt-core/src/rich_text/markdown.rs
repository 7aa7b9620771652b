//! A rich-text tree as CommonMark (with GitHub's `~~strike~~`).
//!
//! Block nodes become Markdown blocks separated by blank lines, lists and quotes prefix their
//! content's lines, and code blocks use a fence longer than any run of backticks inside them.
//! Text is escaped so that what a user typed (`*`, `_`, `[`, `#` …) reads as itself, not as
//! formatting. Underline has no Markdown form and is dropped; unknown types keep their content.

use super::schema::{MarkKind, NodeKind, mark_kind, node_kind};
use super::tree::{Mark, Node};

/// The nodes as Markdown, ending with a newline unless empty.
pub(crate) fn render(nodes: &[Node]) -> String {
    let blocks = blocks(nodes);
    if blocks.is_empty() {
        return String::new();
    }
    blocks.join("\n\n") + "\n"
}

/// Block-level rendering: each entry one Markdown block (maybe several lines).
fn blocks(nodes: &[Node]) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut loose_inline: Vec<&Node> = Vec::new();
    let flush_inline = |loose: &mut Vec<&Node>, blocks: &mut Vec<String>| {
        if !loose.is_empty() {
            let owned: Vec<Node> = loose.drain(..).cloned().collect();
            let text = inline(&owned);
            if !text.trim().is_empty() {
                blocks.push(text);
            }
        }
    };
    for node in nodes {
        let Node::Element {
            name,
            attributes,
            children,
        } = node
        else {
            loose_inline.push(node);
            continue;
        };
        let kind = node_kind(name, attributes);
        if matches!(kind, NodeKind::HardBreak | NodeKind::Image { .. }) {
            loose_inline.push(node);
            continue;
        }
        flush_inline(&mut loose_inline, &mut blocks);
        match kind {
            NodeKind::Paragraph => blocks.push(inline(children)),
            NodeKind::Heading(level) => {
                blocks.push(format!("{} {}", "#".repeat(level.into()), inline(children)));
            }
            NodeKind::Blockquote => {
                let inner = blocks_text(children);
                blocks.push(prefix_lines(&inner, "> ", "> "));
            }
            NodeKind::CodeBlock(language) => {
                let mut code = String::new();
                for child in children {
                    plain_text_into(child, &mut code);
                }
                let fence = "`".repeat(longest_run(&code, '`').max(2) + 1);
                let language = language.unwrap_or_default();
                blocks.push(format!("{fence}{language}\n{code}\n{fence}"));
            }
            NodeKind::BulletList => blocks.push(list(children, |_| "- ".to_owned())),
            NodeKind::OrderedList(start) => {
                blocks.push(list(children, |index| {
                    format!("{}. ", start.saturating_add(index as u64))
                }));
            }
            NodeKind::HorizontalRule => blocks.push("---".to_owned()),
            NodeKind::ListItem | NodeKind::Other => blocks.extend(self::blocks(children)),
            NodeKind::HardBreak | NodeKind::Image { .. } => unreachable!("handled as inline"),
        }
    }
    flush_inline(&mut loose_inline, &mut blocks);
    blocks
}

fn blocks_text(nodes: &[Node]) -> String {
    blocks(nodes).join("\n\n")
}

/// A list: each item's blocks, its first line after the marker and the rest indented to match.
fn list(items: &[Node], marker: impl Fn(usize) -> String) -> String {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let marker = marker(index);
            let content = match item {
                Node::Element { children, .. } => blocks_text(children),
                text => inline(std::slice::from_ref(text)),
            };
            let indent = " ".repeat(marker.len());
            prefix_lines(&content, &marker, &indent)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with `first` before its first line and `rest` before every later one (blank lines get
/// the prefix without its trailing space).
fn prefix_lines(text: &str, first: &str, rest: &str) -> String {
    text.split('\n')
        .enumerate()
        .map(|(index, line)| {
            let prefix = if index == 0 { first } else { rest };
            if line.is_empty() {
                prefix.trim_end().to_owned()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Inline rendering of text runs, hard breaks, images and the content of unknown nodes.
fn inline(nodes: &[Node]) -> String {
    let mut out = String::new();
    let mut line_start = true;
    for node in nodes {
        match node {
            Node::Text { text, marks } => {
                out.push_str(&marked_text(text, marks, line_start));
                line_start = false;
            }
            Node::Element {
                name,
                attributes,
                children,
            } => match node_kind(name, attributes) {
                NodeKind::HardBreak => {
                    out.push_str("\\\n");
                    line_start = true;
                }
                NodeKind::Image { source, alt, title } => {
                    out.push_str("![");
                    out.push_str(&escape(&alt, false));
                    out.push_str("](");
                    out.push_str(&link_target(&source));
                    if let Some(title) = title {
                        out.push_str(" \"");
                        out.push_str(&escape(&title, false).replace('"', "\\\""));
                        out.push('"');
                    }
                    out.push(')');
                    line_start = false;
                }
                _ => {
                    out.push_str(&inline(children));
                    line_start = false;
                }
            },
        }
    }
    out
}

/// One run with its marks, whitespace kept outside the delimiters (`** bold**` is not bold).
fn marked_text(text: &str, marks: &[Mark], line_start: bool) -> String {
    let kinds: Vec<MarkKind> = marks
        .iter()
        .map(|mark| mark_kind(&mark.name, &mark.attributes))
        .collect();
    let trimmed = text.trim();
    if trimmed.is_empty() || kinds.iter().all(|kind| *kind == MarkKind::Other) {
        return escape(text, line_start);
    }
    let leading = &text[..text.len() - text.trim_start().len()];
    let trailing = &text[text.trim_end().len()..];
    let mut body = if kinds.contains(&MarkKind::Code) {
        // A line break would end the code span's line, and what follows could start a raw HTML
        // block; Markdown shows a code span's line endings as spaces anyway.
        let trimmed = &trimmed.replace(['\n', '\r'], " ");
        let fence = "`".repeat(longest_run(trimmed, '`') + 1);
        let pad = if trimmed.starts_with('`') || trimmed.ends_with('`') {
            " "
        } else {
            ""
        };
        format!("{fence}{pad}{trimmed}{pad}{fence}")
    } else {
        escape(trimmed, line_start && leading.is_empty())
    };
    for kind in &kinds {
        body = match kind {
            MarkKind::Bold => format!("**{body}**"),
            MarkKind::Italic => format!("*{body}*"),
            MarkKind::Strike => format!("~~{body}~~"),
            MarkKind::Link(href) => format!("[{body}]({})", link_target(href)),
            MarkKind::Code | MarkKind::Underline | MarkKind::Other => body,
        };
    }
    format!("{leading}{body}{trailing}")
}

/// A link target in angle brackets when it holds spaces or parentheses.
fn link_target(target: &str) -> String {
    if target.contains([' ', '(', ')', '<', '>']) {
        format!("<{}>", target.replace('<', "%3C").replace('>', "%3E"))
    } else {
        target.to_owned()
    }
}

/// Backslash-escapes what Markdown would read as syntax; at a line's start also what would
/// begin a block (`#`, `-`, `+`, `1.`). Line breaks become spaces, as Markdown shows them inside
/// a paragraph, so that no text can start a line (and with it a block) of its own.
fn escape(text: &str, line_start: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\`*_[]<>~|#!".contains(character) {
            out.push('\\');
        }
        out.push(if matches!(character, '\n' | '\r') {
            ' '
        } else {
            character
        });
    }
    if line_start {
        if out.starts_with(['-', '+']) {
            out.insert(0, '\\');
        } else if let Some(digits) = out.find(|c: char| !c.is_ascii_digit())
            && digits > 0
            && out[digits..].starts_with(['.', ')'])
        {
            out.insert(digits, '\\');
        }
    }
    out
}

fn plain_text_into(node: &Node, out: &mut String) {
    match node {
        Node::Text { text, .. } => out.push_str(text),
        Node::Element { children, .. } => {
            for child in children {
                plain_text_into(child, out);
            }
        }
    }
}

/// The longest run of `character` in `text`.
fn longest_run(text: &str, character: char) -> usize {
    let (mut longest, mut current) = (0, 0);
    for c in text.chars() {
        current = if c == character { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    longest
}
