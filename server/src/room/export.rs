//! Reading a document out: what may be asked ([`ExportRequest`]), what comes back
//! ([`Exported`]), and which formats each document kind has.
//!
//! One renderer serves every way out (the HTTP snapshot of a live room, a stored version's
//! snapshot, `quire docs export` offline), so a format means the same wherever it is asked
//! for. The kind stored with a document decides how it is read: a `text` document's content is
//! a `Y.Text`, a `rich` one's a `Y.XmlFragment` as ProseMirror, y-prosemirror and Tiptap write
//! it. Asking a kind for a format it does not have is refused with the kinds that have it, rather
//! than guessed at from whatever roots the document happens to hold.

use crdt_core::export::{self, ExportFormat, RootKind};
use crdt_core::rich_text::{self, RichTextError};
use storage::DocumentKind;
use yrs::StateVector;

/// The XML fragment a rich document's editors write: Tiptap's Collaboration extension names it
/// `default`, and Quire's web editor uses the same so the two edit one document.
pub const RICH_TEXT_ROOT: &str = "default";

/// What to read out of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportRequest {
    /// The document in one of crdt-core's export formats.
    Document {
        format: ExportFormat,
        /// The document's kind, which decides the formats it has and the root they read.
        kind: DocumentKind,
        /// Only what a peer at this state lacks (updates only).
        since: Option<StateVector>,
        /// The root to export (text, markup and JSON formats; inferred when `None`).
        root_name: Option<String>,
    },
    /// The document's v1-encoded state vector.
    StateVector,
}

/// A document exported.
#[derive(Debug, Clone, PartialEq)]
pub enum Exported {
    /// Binary: an update or a state vector.
    Binary(Vec<u8>),
    /// Every root (or the named one) as JSON.
    Json(serde_json::Value),
    /// One text root.
    Text(String),
    /// Rich text as sanitised HTML.
    Html(String),
    /// Rich text (or plain text) as Markdown.
    Markdown(String),
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The document's kind has no such format.
    #[error(
        "format {format} is for {} documents; this document is {kind}",
        kinds_with(*format).iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join(" and ")
    )]
    FormatNotForKind {
        /// The format asked for.
        format: ExportFormat,
        /// The document's kind.
        kind: DocumentKind,
    },
    /// The document has no such root of the right type (or none could be inferred).
    #[error("{0}")]
    NoSuchText(String),
    /// The format needs rich text and the document (or named root) holds none.
    #[error("{0}")]
    NotRichText(String),
    /// The room could not load the document.
    #[error("document unavailable: {0}")]
    Unavailable(String),
}

/// The kinds whose documents can be exported as `format`.
pub fn kinds_with(format: ExportFormat) -> &'static [DocumentKind] {
    match format {
        ExportFormat::Update
        | ExportFormat::UpdateV2
        | ExportFormat::Json
        | ExportFormat::Markdown => &DocumentKind::ALL,
        ExportFormat::Text => &[DocumentKind::Text],
        ExportFormat::Html | ExportFormat::ProsemirrorJson => &[DocumentKind::Rich],
    }
}

impl ExportRequest {
    /// The request's format is one its document's kind has (a state vector always is).
    pub fn check_kind(&self) -> Result<(), ExportError> {
        match self {
            ExportRequest::Document { format, kind, .. } if !kinds_with(*format).contains(kind) => {
                Err(ExportError::FormatNotForKind {
                    format: *format,
                    kind: *kind,
                })
            }
            _ => Ok(()),
        }
    }

    /// Reads `doc` as asked.
    pub fn render(&self, doc: &yrs::Doc) -> Result<Exported, ExportError> {
        self.check_kind()?;
        let (format, kind, since, name) = match self {
            ExportRequest::StateVector => return Ok(Exported::Binary(export::state_vector(doc))),
            ExportRequest::Document {
                format,
                kind,
                since,
                root_name,
            } => (*format, *kind, since.as_ref(), root_name.as_deref()),
        };
        let no_such_text = |error: export::ExportError| ExportError::NoSuchText(error.to_string());
        Ok(match (format, kind) {
            (ExportFormat::Update, _) => Exported::Binary(export::encode_update(doc, since)),
            (ExportFormat::UpdateV2, _) => Exported::Binary(encode_update_v2(doc, since)?),
            (ExportFormat::Json, _) => Exported::Json(match name {
                Some(name) => export::root_to_json(doc, name).map_err(no_such_text)?,
                None => export::to_json(doc),
            }),
            (ExportFormat::Text, _) => {
                Exported::Text(export::text(doc, name).map_err(no_such_text)?)
            }
            // A text document's Markdown is its text as written.
            (ExportFormat::Markdown, DocumentKind::Text) => {
                Exported::Markdown(export::text(doc, name).map_err(no_such_text)?)
            }
            (ExportFormat::Markdown, DocumentKind::Rich) => {
                Exported::Markdown(rich(doc, name, rich_text::to_markdown, String::new)?)
            }
            (ExportFormat::Html, _) => {
                Exported::Html(rich(doc, name, rich_text::to_html, String::new)?)
            }
            (ExportFormat::ProsemirrorJson, _) => Exported::Json(rich(
                doc,
                name,
                rich_text::to_prosemirror_json,
                || serde_json::json!({ "type": "doc", "content": [] }),
            )?),
        })
    }
}

/// Renders a rich document's text: the root named, else [`RICH_TEXT_ROOT`] when the document
/// has it, else its only XML fragment. A rich document nobody has typed in yet has no fragment
/// at all and renders as `empty`.
fn rich<T>(
    doc: &yrs::Doc,
    name: Option<&str>,
    render: fn(&yrs::Doc, Option<&str>) -> Result<T, RichTextError>,
    empty: fn() -> T,
) -> Result<T, ExportError> {
    let name = name.or_else(|| {
        export::roots(doc)
            .iter()
            .any(|(root, kind)| root == RICH_TEXT_ROOT && *kind == RootKind::XmlFragment)
            .then_some(RICH_TEXT_ROOT)
    });
    match render(doc, name) {
        Err(RichTextError::NoRichText { .. }) => Ok(empty()),
        rendered => rendered.map_err(|error| {
            ExportError::NotRichText(format!(
                "{error}; a rich document's text is an XML fragment, as Tiptap and y-prosemirror \
                 write it"
            ))
        }),
    }
}

/// yrs 0.28 panics encoding v2 while a delete set waits for a missing update (a client's updates
/// arriving out of order leave one): a read, so the document is unharmed, and the export is
/// refused rather than the room brought down.
fn encode_update_v2(doc: &yrs::Doc, since: Option<&StateVector>) -> Result<Vec<u8>, ExportError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        export::encode_update_v2(doc, since)
    }))
    .map_err(|_| {
        ExportError::Unavailable(
            "the document cannot be encoded as v2 while it waits for a missing update; try \
             format=update"
                .to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use yrs::{
        Doc, GetString, Text, Transact, WriteTxn, XmlElementPrelim, XmlFragment, XmlTextPrelim,
    };

    use super::*;

    fn request(format: ExportFormat, kind: DocumentKind, root_name: Option<&str>) -> ExportRequest {
        ExportRequest::Document {
            format,
            kind,
            since: None,
            root_name: root_name.map(str::to_owned),
        }
    }

    /// A paragraph holding `words` in fragment `root`.
    fn add_paragraph(doc: &Doc, root: &str, words: &str) {
        let mut transaction = doc.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment(root);
        let paragraph = fragment.push_back(&mut transaction, XmlElementPrelim::empty("paragraph"));
        paragraph.push_back(&mut transaction, XmlTextPrelim::new(words));
    }

    fn add_text(doc: &Doc, root: &str, words: &str) {
        let mut transaction = doc.transact_mut();
        let text = transaction.get_or_insert_text(root);
        text.push(&mut transaction, words);
        assert_eq!(text.get_string(&transaction), words);
    }

    #[test]
    fn a_kind_is_refused_the_formats_it_lacks_naming_the_kinds_that_have_them() {
        let doc = Doc::new();
        add_text(&doc, "text", "plain words");
        for (format, kind, lacking_kind_has) in [
            (ExportFormat::Html, DocumentKind::Text, "rich"),
            (ExportFormat::ProsemirrorJson, DocumentKind::Text, "rich"),
            (ExportFormat::Text, DocumentKind::Rich, "text"),
        ] {
            let refusal = request(format, kind, None).render(&doc).unwrap_err();
            assert!(matches!(refusal, ExportError::FormatNotForKind { .. }));
            assert_eq!(
                refusal.to_string(),
                format!(
                    "format {format} is for {lacking_kind_has} documents; this document is {kind}"
                )
            );
        }
        for format in [
            ExportFormat::Update,
            ExportFormat::Json,
            ExportFormat::Markdown,
        ] {
            for kind in DocumentKind::ALL {
                assert!(
                    request(format, kind, None).check_kind().is_ok(),
                    "{format} {kind}"
                );
            }
        }
    }

    #[test]
    fn a_text_documents_markdown_is_its_text_even_beside_an_xml_fragment() {
        let doc = Doc::new();
        add_text(&doc, "text", "# not a heading *to us*");
        add_paragraph(&doc, "default", "stray rich text");
        assert_eq!(
            request(ExportFormat::Markdown, DocumentKind::Text, None)
                .render(&doc)
                .unwrap(),
            Exported::Markdown("# not a heading *to us*".to_owned())
        );
    }

    #[test]
    fn an_untouched_rich_document_exports_empty() {
        let doc = Doc::new();
        let render = |format| {
            request(format, DocumentKind::Rich, None)
                .render(&doc)
                .unwrap()
        };
        assert_eq!(render(ExportFormat::Html), Exported::Html(String::new()));
        assert_eq!(
            render(ExportFormat::Markdown),
            Exported::Markdown(String::new())
        );
        assert_eq!(
            render(ExportFormat::ProsemirrorJson),
            Exported::Json(serde_json::json!({ "type": "doc", "content": [] }))
        );
    }

    #[test]
    fn a_rich_document_reads_the_editors_fragment_first_and_others_by_name() {
        let doc = Doc::new();
        add_paragraph(&doc, "default", "what the editor wrote");
        add_paragraph(&doc, "comments", "a side note");
        let html = |name| {
            request(ExportFormat::Html, DocumentKind::Rich, name)
                .render(&doc)
                .unwrap()
        };
        assert_eq!(
            html(None),
            Exported::Html("<p>what the editor wrote</p>".to_owned())
        );
        assert_eq!(
            html(Some("comments")),
            Exported::Html("<p>a side note</p>".to_owned())
        );
        let missing = request(ExportFormat::Html, DocumentKind::Rich, Some("absent")).render(&doc);
        assert!(matches!(missing, Err(ExportError::NotRichText(_))));
    }

    #[test]
    fn json_of_a_named_root_holds_only_that_root() {
        let doc = Doc::new();
        add_text(&doc, "text", "kept");
        add_text(&doc, "other", "left out");
        assert_eq!(
            request(ExportFormat::Json, DocumentKind::Text, Some("text"))
                .render(&doc)
                .unwrap(),
            Exported::Json(serde_json::json!("kept"))
        );
    }
}
