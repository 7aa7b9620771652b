//! The browser editor (`client-web/`), served from files embedded in the `quire` binary.
//!
//! Routes: `/` and `/d/{*id}` answer the single page `index.html` (the page reads the document
//! id from its path); `/assets/{*path}` answers Vite's output with its content type.
//!
//! `client-web/dist` is embedded at compile time in release builds; debug builds read it from
//! disk on each request (rust-embed's behaviour), so a rebuilt web editor shows up without
//! recompiling. The built files are not committed: when the folder is missing or empty, `/`
//! answers a page saying how to build it, and the server works as before.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::api_error::ApiError;

/// `client-web/dist`, by absolute path: debug builds resolve a relative folder against the
/// working directory, which differs between `cargo run`, tests and scripts.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../client-web/dist"]
#[allow_missing = true]
struct WebAssets;

/// Everything Vite writes under `assets/` carries a content hash in its name, so a browser may
/// keep it for a year: a new build links new names.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `index.html` names the current hashed files, so browsers must revalidate it every time.
const REVALIDATE: &str = "no-cache";

/// Shown instead of the editor when the binary was built without `client-web/dist`.
const NOT_BUILT_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Quire</title></head><body><h1>Quire</h1><p>The web editor is not built into this binary: \
run <code>scripts/run.sh</code>, which builds <code>client-web</code> first (or run \
<code>npm ci &amp;&amp; npm run build</code> in <code>client-web/</code>, then rebuild \
<code>quire</code>). The WebSocket endpoint <code>/ws/{room}</code> works regardless.</p>\
</body></html>\n";

/// The web editor's routes, to merge into the application router.
pub fn web_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/d/{*id}", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index(request_headers: HeaderMap) -> Response {
    match WebAssets::get("index.html") {
        Some(file) => file_response("index.html", file, REVALIDATE, &request_headers),
        None => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, REVALIDATE),
            ],
            NOT_BUILT_PAGE,
        )
            .into_response(),
    }
}

async fn asset(Path(path): Path<String>, request_headers: HeaderMap) -> Response {
    // Release builds only know the embedded names, but debug builds read the disk: refuse
    // anything but plain relative segments so both behave alike and nothing outside is reached.
    let plain = path
        .split('/')
        .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
        && !path.contains('\\');
    let embedded_path = format!("assets/{path}");
    match WebAssets::get(&embedded_path).filter(|_| plain) {
        Some(file) => file_response(&embedded_path, file, IMMUTABLE, &request_headers),
        None => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such asset").into_response(),
    }
}

/// The file with its type, caching policy and a strong ETag from its SHA-256, answering
/// `If-None-Match` with 304 so revalidating `index.html` costs no body.
fn file_response(
    path: &str,
    file: rust_embed::EmbeddedFile,
    cache_control: &'static str,
    request_headers: &HeaderMap,
) -> Response {
    let etag = etag_for(&file.metadata.sha256_hash());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let matches = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if let Ok(value) = HeaderValue::from_str(&content_type_for(path)) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    (headers, file.data.into_owned()).into_response()
}

/// The content type by extension; text types say UTF-8, which is what Vite writes.
fn content_type_for(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "image/svg+xml"
        );
    if textual {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    }
}

fn etag_for(sha256: &[u8; 32]) -> String {
    let hex: String = sha256.iter().map(|byte| format!("{byte:02x}")).collect();
    // 16 bytes of the hash are plenty to tell builds apart.
    format!("\"{}\"", &hex[..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type_for("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type_for("assets/index-BMckp3XA.css"),
            "text/css; charset=utf-8"
        );
        let javascript = content_type_for("assets/index-BMckp3XA.js");
        assert!(
            javascript == "text/javascript; charset=utf-8"
                || javascript == "application/javascript; charset=utf-8",
            "{javascript}"
        );
        assert_eq!(content_type_for("assets/logo-abc.png"), "image/png");
        assert_eq!(content_type_for("assets/font-abc.woff2"), "font/woff2");
        assert_eq!(
            content_type_for("assets/unknown-abc.qqqunknown"),
            "application/octet-stream"
        );
    }

    #[tokio::test]
    async fn index_answers_html_built_or_not() {
        // Works whether or not client-web was built before `cargo test`.
        let response = index(HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], REVALIDATE);
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("<html"));
    }

    #[tokio::test]
    async fn missing_asset_is_a_json_404() {
        let response = asset(Path("no-such-file-0000.js".to_owned()), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "not_found");
    }

    #[tokio::test]
    async fn path_traversal_finds_nothing() {
        let response = asset(Path("../index.html".to_owned()), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = asset(Path("../../Cargo.toml".to_owned()), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = asset(Path("..\\..\\Cargo.toml".to_owned()), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn built_assets_are_immutable_and_revalidate_with_etags() {
        // Only meaningful once client-web is built; the test script builds it first.
        let Some(path) = WebAssets::iter().find(|path| path.starts_with("assets/")) else {
            return;
        };
        let name = path.trim_start_matches("assets/").to_owned();
        let response = asset(Path(name.clone()), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CACHE_CONTROL], IMMUTABLE);
        let etag = response.headers()[header::ETAG].clone();
        let mut conditional = HeaderMap::new();
        conditional.insert(header::IF_NONE_MATCH, etag);
        let response = asset(Path(name), conditional).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    }
}
