//! Rich-text export of documents built the way y-prosemirror and Tiptap build them.

use serde_json::json;
use yrs::any::Number;
use yrs::types::Attrs;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Doc, ReadTxn, Text, Transact, WriteTxn, Xml, XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

use super::*;

/// A Tiptap-style document in root `default`: a heading, a paragraph with marks and a link, a
/// list, a quote and a code block.
fn tiptap_document() -> Doc {
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("default");
        let heading = fragment.push_back(&mut transaction, XmlElementPrelim::empty("heading"));
        heading.insert_attribute(&mut transaction, "level", Any::Number(Number::Int(2)));
        heading.push_back(&mut transaction, XmlTextPrelim::new("Plan & <notes>"));

        let paragraph = fragment.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
        let text = paragraph.push_back(
            &mut transaction,
            XmlTextPrelim::new("Some bold and a link."),
        );
        let bold: Attrs = [("bold".into(), Any::Map(Default::default()))].into();
        text.format(&mut transaction, 5, 4, bold);
        let link: Attrs = [(
            "link".into(),
            Any::from(std::collections::HashMap::from([(
                "href".to_owned(),
                Any::from("https://example.com/a b"),
            )])),
        )]
        .into();
        text.format(&mut transaction, 16, 4, link);

        let list = fragment.push_back(&mut transaction, XmlElementPrelim::empty("bulletList"));
        for item in ["one", "two"] {
            let list_item = list.push_back(&mut transaction, XmlElementPrelim::empty("listItem"));
            let inner = list_item.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
            inner.push_back(&mut transaction, XmlTextPrelim::new(item));
        }

        let quote = fragment.push_back(&mut transaction, XmlElementPrelim::empty("blockquote"));
        let quoted = quote.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
        quoted.push_back(&mut transaction, XmlTextPrelim::new("*not emphasis*"));

        let code = fragment.push_back(&mut transaction, XmlElementPrelim::empty("codeBlock"));
        code.insert_attribute(&mut transaction, "language", "rust");
        code.push_back(&mut transaction, XmlTextPrelim::new("let x = \"```\";"));
    }
    doc
}

#[test]
fn html_has_the_usual_tags_and_escapes_text() {
    let html = to_html(&tiptap_document(), None).unwrap();
    assert_eq!(
        html,
        "<h2>Plan &amp; &lt;notes&gt;</h2>\
         <p>Some <strong>bold</strong> and a <a href=\"https://example.com/a b\">link</a>.</p>\
         <ul><li><p>one</p></li><li><p>two</p></li></ul>\
         <blockquote><p>*not emphasis*</p></blockquote>\
         <pre><code class=\"language-rust\">let x = &quot;```&quot;;</code></pre>"
    );
}

#[test]
fn markdown_reads_as_the_document() {
    let markdown = to_markdown(&tiptap_document(), None).unwrap();
    assert_eq!(
        markdown,
        "## Plan & \\<notes\\>\n\n\
         Some **bold** and a [link](<https://example.com/a b>).\n\n\
         - one\n- two\n\n\
         > \\*not emphasis\\*\n\n\
         ````rust\nlet x = \"```\";\n````\n"
    );
}

#[test]
fn prosemirror_json_keeps_types_attributes_and_marks() {
    let json = to_prosemirror_json(&tiptap_document(), Some("default")).unwrap();
    assert_eq!(json["type"], "doc");
    assert_eq!(
        json["content"][0],
        json!({"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Plan & <notes>"}]})
    );
    assert_eq!(
        json["content"][1]["content"][1],
        json!({"type": "text", "text": "bold", "marks": [{"type": "bold"}]})
    );
    assert_eq!(
        json["content"][1]["content"][3]["marks"][0],
        json!({"type": "link", "attrs": {"href": "https://example.com/a b"}})
    );
    assert_eq!(json["content"][2]["type"], "bulletList");
}

/// Scripts, event handlers, styles and `javascript:` links never reach the output.
#[test]
fn hostile_content_is_sanitised() {
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("prosemirror");
        let script = fragment.push_back(&mut transaction, XmlElementPrelim::empty("script"));
        script.push_back(&mut transaction, XmlTextPrelim::new("alert(1)"));
        let paragraph = fragment.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
        paragraph.insert_attribute(&mut transaction, "onclick", "alert(2)");
        paragraph.insert_attribute(&mut transaction, "style", "color: red");
        let text = paragraph.push_back(&mut transaction, XmlTextPrelim::new(""));
        let link: Attrs = [(
            "link".into(),
            Any::from(std::collections::HashMap::from([(
                "href".to_owned(),
                Any::from("javascript:alert(3)"),
            )])),
        )]
        .into();
        text.insert_with_attributes(&mut transaction, 0, "click", link);
        let image = fragment.push_back(&mut transaction, XmlElementPrelim::empty("image"));
        image.insert_attribute(&mut transaction, "src", "data:text/html,<script>");
        image.insert_attribute(&mut transaction, "onerror", "alert(4)");
    }
    let html = to_html(&doc, None).unwrap();
    assert_eq!(html, "alert(1)<p>click</p>", "only text survives");
    let json = to_prosemirror_json(&doc, None).unwrap().to_string();
    for banned in ["onclick", "onerror", "style", "javascript:"] {
        assert!(!json.contains(banned), "{banned} in {json}");
    }
    assert_eq!(to_markdown(&doc, None).unwrap(), "alert(1)\n\nclick\n");
}

#[test]
fn basic_schema_names_and_ordered_lists_render_too() {
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("prosemirror");
        let list = fragment.push_back(&mut transaction, XmlElementPrelim::empty("ordered_list"));
        list.insert_attribute(&mut transaction, "order", Any::Number(Number::Int(3)));
        for item in ["three", "- four"] {
            let list_item = list.push_back(&mut transaction, XmlElementPrelim::empty("list_item"));
            let inner = list_item.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
            let text = inner.push_back(&mut transaction, XmlTextPrelim::new(""));
            let strong: Attrs = [("strong".into(), Any::Map(Default::default()))].into();
            text.insert_with_attributes(&mut transaction, 0, item, strong);
        }
        fragment.push_back(&mut transaction, XmlElementPrelim::empty("horizontal_rule"));
    }
    assert_eq!(
        to_html(&doc, None).unwrap(),
        "<ol start=\"3\"><li><p><strong>three</strong></p></li><li><p><strong>- four</strong></p></li></ol><hr>"
    );
    assert_eq!(
        to_markdown(&doc, None).unwrap(),
        "3. **three**\n4. **\\- four**\n\n---\n"
    );
}

#[test]
fn the_root_is_chosen_or_the_error_names_what_there_is() {
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        transaction
            .get_or_insert_text("notes")
            .insert(&mut transaction, 0, "plain");
    }
    assert_eq!(
        to_html(&doc, None),
        Err(RichTextError::NoRichText {
            roots: vec!["notes".to_owned()]
        })
    );
    assert!(matches!(
        to_html(&doc, Some("notes")),
        Err(RichTextError::NotRichText { .. })
    ));
    assert!(matches!(
        to_html(&doc, Some("missing")),
        Err(RichTextError::NoSuchRoot { .. })
    ));
    {
        let mut transaction = doc.transact_mut();
        for name in ["a", "b"] {
            let fragment = transaction.get_or_insert_xml_fragment(name);
            fragment.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
        }
    }
    assert_eq!(
        to_html(&doc, None),
        Err(RichTextError::SeveralRichTexts {
            fragments: vec!["a".to_owned(), "b".to_owned()]
        })
    );
    assert_eq!(to_html(&doc, Some("b")).unwrap(), "<p></p>");
}

/// A server that only applied the clients' updates has no declared root types: the fragment
/// is recognised from what it holds.
#[test]
fn a_document_received_as_updates_exports_the_same() {
    let original = tiptap_document();
    let update = original
        .transact()
        .encode_state_as_update_v1(&yrs::StateVector::default());
    let received = Doc::new();
    received
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(&update).unwrap())
        .unwrap();
    assert_eq!(
        to_html(&received, None).unwrap(),
        to_html(&original, None).unwrap()
    );
    assert_eq!(
        to_markdown(&received, None).unwrap(),
        to_markdown(&original, None).unwrap()
    );
}

/// A document nested thousands of levels deep is refused with an error, not a stack overflow.
#[test]
fn absurd_nesting_is_refused_not_recursed_into() {
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("default");
        let mut parent =
            fragment.push_back(&mut transaction, XmlElementPrelim::empty("blockquote"));
        for _ in 0..5_000 {
            parent = parent.push_back(&mut transaction, XmlElementPrelim::empty("blockquote"));
        }
        parent.push_back(&mut transaction, XmlTextPrelim::new("deep"));
    }
    let refused = RichTextError::TooDeep {
        limit: super::tree::MAX_DEPTH,
    };
    assert_eq!(to_html(&doc, None), Err(refused.clone()));
    assert_eq!(to_markdown(&doc, None), Err(refused.clone()));
    assert_eq!(to_prosemirror_json(&doc, None), Err(refused));
}

/// Line breaks inside text, code and image titles cannot start a Markdown line of their own, so
/// no raw HTML block or list can be smuggled in; a huge list start does not overflow.
#[test]
fn markdown_gives_hostile_text_no_line_of_its_own() {
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("default");
        let paragraph = fragment.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
        let text = paragraph.push_back(
            &mut transaction,
            XmlTextPrelim::new("a\n- b\n<script>alert(1)</script>"),
        );
        let code: Attrs = [("code".into(), Any::Map(Default::default()))].into();
        text.format(&mut transaction, 6, 8, code);
        let image = fragment.push_back(&mut transaction, XmlElementPrelim::empty("image"));
        image.insert_attribute(&mut transaction, "src", "https://example.com/i.png");
        image.insert_attribute(&mut transaction, "title", "t\n<img src=x onerror=alert(2)>");
        let list = fragment.push_back(&mut transaction, XmlElementPrelim::empty("orderedList"));
        list.insert_attribute(
            &mut transaction,
            "start",
            Any::Number(Number::Float(1.9e19)),
        );
        for _ in 0..2 {
            let item = list.push_back(&mut transaction, XmlElementPrelim::empty("listItem"));
            item.push_back(&mut transaction, XmlTextPrelim::new("x"));
        }
    }
    let markdown = to_markdown(&doc, None).unwrap();
    for line in markdown.lines() {
        assert!(
            !line.trim_start().starts_with('<'),
            "raw HTML line: {line:?}"
        );
        assert!(!line.starts_with("- "), "a list smuggled in: {line:?}");
    }
    assert!(markdown.contains("18446744073709551615. x"), "{markdown}");
}
