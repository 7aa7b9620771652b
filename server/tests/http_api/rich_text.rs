//! `GET /api/docs/{id}/snapshot?format=html|markdown|prosemirror-json`: rich documents as Tiptap
//! writes them, rendered by the server; plain text documents where a format has no meaning.

use axum::http::{StatusCode, header};
use yrs::types::Attrs;
use yrs::{
    Any, Doc, ReadTxn, StateVector, Text, Transact, WriteTxn, XmlElementPrelim, XmlFragment,
    XmlTextPrelim,
};

use super::support::TestApp;

/// A Tiptap document (root `default`): a paragraph with a bold word and a hostile link.
fn tiptap_update() -> Vec<u8> {
    let doc = Doc::new();
    {
        let mut transaction = doc.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("default");
        let paragraph = fragment.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
        let text = paragraph.push_back(&mut transaction, XmlTextPrelim::new("Hello bold <world>"));
        let bold: Attrs = [("bold".into(), Any::Map(Default::default()))].into();
        text.format(&mut transaction, 6, 4, bold);
        let link: Attrs = [(
            "link".into(),
            Any::from(std::collections::HashMap::from([(
                "href".to_owned(),
                Any::from("javascript:alert(1)"),
            )])),
        )]
        .into();
        text.format(&mut transaction, 11, 7, link);
    }
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// HTML is sanitised, served as `text/html` under a sandboxing content security policy.
#[tokio::test]
async fn a_rich_document_exports_as_sanitised_html() {
    let app = TestApp::new();
    assert_eq!(
        app.create_of_kind("article", "rich").await.status,
        StatusCode::CREATED
    );
    let stored = app.post_update("article", tiptap_update()).await;
    assert_eq!(stored.status, StatusCode::OK);
    let reply = app.get("/api/docs/article/snapshot?format=html").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "text/html; charset=utf-8");
    assert_eq!(
        reply.text(),
        "<p>Hello <strong>bold</strong> &lt;world&gt;</p>",
        "the javascript: link is dropped, its text kept"
    );
    let policy = reply.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("sandbox") && policy.contains("default-src 'none'"));
}

/// Markdown and ProseMirror JSON of the same document.
#[tokio::test]
async fn a_rich_document_exports_as_markdown_and_prosemirror_json() {
    let app = TestApp::new();
    app.create_of_kind("article", "rich").await;
    app.post_update("article", tiptap_update()).await;
    let markdown = app.get("/api/docs/article/snapshot?format=markdown").await;
    assert_eq!(markdown.status, StatusCode::OK);
    assert_eq!(markdown.content_type(), "text/markdown; charset=utf-8");
    assert_eq!(markdown.text(), "Hello **bold** \\<world\\>\n");
    let json = app
        .get("/api/docs/article/snapshot?format=prosemirror-json&name=default")
        .await;
    assert_eq!(json.status, StatusCode::OK);
    let json = json.json();
    assert_eq!(json["type"], "doc");
    assert_eq!(json["content"][0]["type"], "paragraph");
    assert_eq!(json["content"][0]["content"][1]["marks"][0]["type"], "bold");
}

/// A plain text document is its text in Markdown; HTML and ProseMirror JSON are 400
/// `format_not_for_kind`, naming the kind that has them, even when the text document holds an
/// XML fragment too.
#[tokio::test]
async fn a_plain_text_document_has_markdown_but_no_html() {
    let app = TestApp::new();
    app.create_document("notes", "just *text*").await;
    app.post_update("notes", tiptap_update()).await;
    let markdown = app.get("/api/docs/notes/snapshot?format=markdown").await;
    assert_eq!(markdown.status, StatusCode::OK);
    assert_eq!(markdown.text(), "just *text*");
    for format in ["html", "prosemirror-json"] {
        let reply = app
            .get(&format!("/api/docs/notes/snapshot?format={format}"))
            .await;
        reply.assert_refused(StatusCode::BAD_REQUEST, "format_not_for_kind");
        assert_eq!(
            reply.json()["error"],
            format!("format {format} is for rich documents; this document is text")
        );
    }
}

/// A version of a rich document exports as rich text too; a text document's version does not.
#[tokio::test]
async fn versions_export_by_their_documents_kind() {
    let app = TestApp::new();
    app.create_of_kind("article", "rich").await;
    app.post_update("article", tiptap_update()).await;
    app.create_document("notes", "plain").await;
    for id in ["article", "notes"] {
        let version = app
            .send(super::support::post_json(
                &format!("/api/docs/{id}/versions"),
                &serde_json::json!({ "label": "v" }),
            ))
            .await;
        assert_eq!(version.status, StatusCode::CREATED, "{version:?}");
    }
    let html = app
        .get("/api/docs/article/versions/1/snapshot?format=html")
        .await;
    assert_eq!(
        html.text(),
        "<p>Hello <strong>bold</strong> &lt;world&gt;</p>"
    );
    app.get("/api/docs/notes/versions/1/snapshot?format=html")
        .await
        .assert_refused(StatusCode::BAD_REQUEST, "format_not_for_kind");
}
