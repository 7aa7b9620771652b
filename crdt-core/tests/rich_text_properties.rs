//! The rich-text HTML export, property-tested: for random documents as Tiptap writes them
//! (nested blocks, marks, links to any scheme, text full of markup characters), the HTML is well
//! formed, carries no script, style or event handler, links only to http, https and mailto, and
//! holds every character of the text in order.

use proptest::prelude::*;
use yrs::any::Number;
use yrs::types::Attrs;
use yrs::{
    Any, Doc, Text, Transact, TransactionMut, WriteTxn, Xml, XmlElementPrelim, XmlElementRef,
    XmlFragment, XmlTextPrelim,
};

/// A mark on a run of text; links carry hrefs of every kind, hostile ones included.
#[derive(Clone, Debug)]
enum Mark {
    Bold,
    Italic,
    Code,
    Strike,
    Link(&'static str),
}

#[derive(Clone, Debug)]
enum Block {
    Paragraph(Vec<(String, Option<Mark>)>),
    Heading(i64, Vec<(String, Option<Mark>)>),
    Code(String),
    Blockquote(Vec<Block>),
    BulletList(Vec<Vec<Block>>),
    HorizontalRule,
}

const HREFS: [&str; 6] = [
    "https://example.com/a?b=1&c=\"2\"",
    "http://example.com/<x>",
    "mailto:someone@example.com",
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'Z', ' ', '<', '>', '&', '"', '\'', '/', '=', 'é', '日', '🎉', '*', '#', '\\',
        ]),
        0..10,
    )
    .prop_map(|characters| characters.into_iter().collect())
}

fn mark() -> impl Strategy<Value = Option<Mark>> {
    prop_oneof![
        Just(None),
        Just(Some(Mark::Bold)),
        Just(Some(Mark::Italic)),
        Just(Some(Mark::Code)),
        Just(Some(Mark::Strike)),
        prop::sample::select(HREFS.to_vec()).prop_map(|href| Some(Mark::Link(href))),
    ]
}

fn inline() -> impl Strategy<Value = Vec<(String, Option<Mark>)>> {
    prop::collection::vec((text(), mark()), 0..4)
}

fn block() -> impl Strategy<Value = Block> {
    let leaf = prop_oneof![
        inline().prop_map(Block::Paragraph),
        (1..=6_i64, inline()).prop_map(|(level, runs)| Block::Heading(level, runs)),
        text().prop_map(Block::Code),
        Just(Block::HorizontalRule),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Block::Blockquote),
            prop::collection::vec(prop::collection::vec(inner, 1..3), 1..4)
                .prop_map(Block::BulletList),
        ]
    })
}

fn mark_attributes(mark: &Mark) -> Attrs {
    let empty = || Any::Map(Default::default());
    let (name, value) = match mark {
        Mark::Bold => ("bold", empty()),
        Mark::Italic => ("italic", empty()),
        Mark::Code => ("code", empty()),
        Mark::Strike => ("strike", empty()),
        Mark::Link(href) => (
            "link",
            Any::from(std::collections::HashMap::from([(
                "href".to_owned(),
                Any::from(*href),
            )])),
        ),
    };
    [(name.into(), value)].into()
}

/// Writes `runs` as one XML text of `element`, each run formatted with its mark.
fn write_runs(
    transaction: &mut TransactionMut,
    element: &XmlElementRef,
    runs: &[(String, Option<Mark>)],
) {
    let whole: String = runs.iter().map(|(run, _)| run.as_str()).collect();
    let text = element.push_back(transaction, XmlTextPrelim::new(whole));
    // The document counts offsets in UTF-8 bytes, yrs's default.
    let mut offset = 0;
    for (run, mark) in runs {
        if let Some(mark) = mark
            && !run.is_empty()
        {
            text.format(transaction, offset, run.len() as u32, mark_attributes(mark));
        }
        offset += run.len() as u32;
    }
}

fn write_block(transaction: &mut TransactionMut, parent: &impl XmlFragment, block: &Block) {
    let element = |transaction: &mut TransactionMut, name: &str| {
        parent.push_back(transaction, XmlElementPrelim::empty(name))
    };
    match block {
        Block::Paragraph(runs) => {
            let paragraph = element(transaction, "paragraph");
            write_runs(transaction, &paragraph, runs);
        }
        Block::Heading(level, runs) => {
            let heading = element(transaction, "heading");
            heading.insert_attribute(transaction, "level", Any::Number(Number::Int(*level)));
            write_runs(transaction, &heading, runs);
        }
        Block::Code(code) => {
            let code_block = element(transaction, "codeBlock");
            code_block.push_back(transaction, XmlTextPrelim::new(code.as_str()));
        }
        Block::Blockquote(blocks) => {
            let quote = element(transaction, "blockquote");
            for block in blocks {
                write_block(transaction, &quote, block);
            }
        }
        Block::BulletList(items) => {
            let list = element(transaction, "bulletList");
            for item in items {
                let list_item = list.push_back(transaction, XmlElementPrelim::empty("listItem"));
                for block in item {
                    write_block(transaction, &list_item, block);
                }
            }
        }
        Block::HorizontalRule => {
            element(transaction, "horizontalRule");
        }
    }
}

/// Every character of the document's text, in document order.
fn text_of(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Paragraph(runs) | Block::Heading(_, runs) => {
                runs.iter().for_each(|(run, _)| out.push_str(run));
            }
            Block::Code(code) => out.push_str(code),
            Block::Blockquote(blocks) => out.push_str(&text_of(blocks)),
            Block::BulletList(items) => items.iter().for_each(|item| out.push_str(&text_of(item))),
            Block::HorizontalRule => {}
        }
    }
    out
}

/// Checks `html` is well formed (every tag closed in order, void tags aside, attribute values
/// quoted, no raw `<` or `>` in text) and returns its text with entities decoded.
fn well_formed_text(html: &str) -> Result<String, String> {
    const VOID: [&str; 3] = ["hr", "br", "img"];
    let mut open: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find(['<', '>']) {
        text.push_str(&rest[..start]);
        if rest[start..].starts_with('>') {
            return Err(format!("a raw '>' in text: {html}"));
        }
        let end = rest[start..].find('>').ok_or("an unclosed tag")? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop().as_deref() != Some(name) {
                return Err(format!("</{name}> closes nothing open: {html}"));
            }
            continue;
        }
        let (name, attributes) = tag.split_once(' ').unwrap_or((tag, ""));
        check_attributes(name, attributes)?;
        if !VOID.contains(&name) {
            open.push(name.to_owned());
        }
    }
    text.push_str(rest);
    if !open.is_empty() {
        return Err(format!("left open: {open:?} in {html}"));
    }
    Ok(text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&"))
}

/// Attributes are `name="value"` pairs of the few the sanitiser allows; a link is http, https or
/// mailto.
fn check_attributes(tag: &str, attributes: &str) -> Result<(), String> {
    let mut rest = attributes.trim();
    while !rest.is_empty() {
        let (name, value_and_more) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("an unquoted attribute in <{tag} {attributes}>"))?;
        let (value, more) = value_and_more
            .split_once('"')
            .ok_or_else(|| format!("an unterminated attribute in <{tag} {attributes}>"))?;
        match (tag, name) {
            ("a", "href") => {
                let scheme = value.split(':').next().unwrap_or_default();
                if !["http", "https", "mailto"].contains(&scheme) {
                    return Err(format!("a link to {value:?}"));
                }
            }
            ("ol", "start") | ("code", "class") | ("img", "src" | "alt" | "title") => {}
            _ => return Err(format!("attribute {name:?} on <{tag}>")),
        }
        rest = more.trim_start();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random documents export as well-formed, sanitised HTML holding every character typed.
    #[test]
    fn html_is_well_formed_sanitised_and_holds_every_character(
        blocks in prop::collection::vec(block(), 0..6)
    ) {
        let doc = Doc::new();
        {
            let mut transaction = doc.transact_mut();
            let fragment = transaction.get_or_insert_xml_fragment("default");
            for block in &blocks {
                write_block(&mut transaction, &fragment, block);
            }
        }
        let html = crdt_core::rich_text::to_html(&doc, Some("default")).unwrap();
        prop_assert!(!html.contains("<script") && !html.contains("<style"), "{html}");
        let text = well_formed_text(&html).map_err(TestCaseError::fail)?;
        prop_assert_eq!(text, text_of(&blocks), "{}", html);
    }
}
