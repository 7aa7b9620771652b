//! Where a document lives: a Quire server's URL plus a document id (and a token) become the
//! WebSocket address `ws(s)://host/ws/<document>?token=...`.
//!
//! People paste the address they open in a browser (`http://host:8080`), or the one they give
//! y-websocket (`ws://host:8080/ws`), so both are accepted: `http` becomes `ws`, `https` becomes
//! `wss`, and `/ws/` is appended unless the path already ends with `/ws`. A path before it is
//! kept, for servers behind a proxy under a prefix. The document id is percent-encoded except
//! for `/`, which y-websocket leaves as it is and Quire keeps as part of the name.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio_tungstenite::tungstenite::http::Uri;

use crate::error::EndpointError;

/// Bytes of a document id left as they are in the URL path.
const PATH_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Bytes of a token left as they are in the query (JWTs need none escaped, but a token is opaque).
const QUERY_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The WebSocket address of one document.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: String,
    /// Where the token starts in `url`, so it can be left out of logs.
    token_at: Option<usize>,
    document: String,
}

impl Endpoint {
    /// The address of `document` on the server at `server` (`http(s)://` or `ws(s)://`), with
    /// `token` as `?token=` when given.
    pub fn new(server: &str, document: &str, token: Option<&str>) -> Result<Self, EndpointError> {
        if document.is_empty() {
            return Err(EndpointError::EmptyDocument);
        }
        let (scheme, rest) =
            server
                .split_once("://")
                .ok_or_else(|| EndpointError::UnsupportedScheme {
                    url: server.to_owned(),
                })?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => "ws",
            "https" | "wss" => "wss",
            _ => {
                return Err(EndpointError::UnsupportedScheme {
                    url: server.to_owned(),
                });
            }
        };
        // Query and fragment of the server URL have no meaning here.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(EndpointError::MissingHost {
                url: server.to_owned(),
            });
        }
        let path = path.trim_end_matches('/');
        let prefix = if path.ends_with("/ws") {
            path.to_owned()
        } else {
            format!("{path}/ws")
        };
        let mut url = format!(
            "{scheme}://{authority}{prefix}/{}",
            utf8_percent_encode(document, PATH_KEEPS)
        );
        url.parse::<Uri>()
            .map_err(|source| EndpointError::InvalidAddress {
                url: url.clone(),
                source,
            })?;
        let mut token_at = None;
        if let Some(token) = token {
            url.push_str("?token=");
            token_at = Some(url.len());
            url.push_str(&utf8_percent_encode(token, QUERY_KEEPS).to_string());
        }
        Ok(Endpoint {
            url,
            token_at,
            document: document.to_owned(),
        })
    }

    /// The full address, token included: for connecting, not for logs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The document id.
    pub fn document(&self) -> &str {
        &self.document
    }

    /// True for `wss://` addresses.
    pub fn is_secure(&self) -> bool {
        self.url.starts_with("wss://")
    }
}

/// The address with the token masked: safe to log.
impl fmt::Display for Endpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.token_at {
            Some(at) => write!(formatter, "{}***", &self.url[..at]),
            None => formatter.write_str(&self.url),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Endpoint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(server: &str, document: &str, token: Option<&str>) -> String {
        Endpoint::new(server, document, token)
            .unwrap()
            .url()
            .to_owned()
    }

    #[test]
    fn http_and_websocket_urls_lead_to_the_same_address() {
        let expected = "ws://127.0.0.1:4000/ws/notes";
        assert_eq!(url("http://127.0.0.1:4000", "notes", None), expected);
        assert_eq!(url("http://127.0.0.1:4000/", "notes", None), expected);
        assert_eq!(url("ws://127.0.0.1:4000/ws", "notes", None), expected);
        assert_eq!(url("ws://127.0.0.1:4000/ws/", "notes", None), expected);
        assert_eq!(
            url("https://example.com/quire", "notes", None),
            "wss://example.com/quire/ws/notes"
        );
    }

    #[test]
    fn document_ids_are_escaped_except_for_slashes() {
        assert_eq!(
            url("http://h", "team/notes día 1?", None),
            "ws://h/ws/team/notes%20d%C3%ADa%201%3F"
        );
    }

    #[test]
    fn tokens_go_in_the_query_and_stay_out_of_logs() {
        let endpoint = Endpoint::new("http://h:1", "d", Some("a.b+c")).unwrap();
        assert_eq!(endpoint.url(), "ws://h:1/ws/d?token=a.b%2Bc");
        assert_eq!(endpoint.to_string(), "ws://h:1/ws/d?token=***");
        assert!(!format!("{endpoint:?}").contains("a.b"));
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(matches!(
            Endpoint::new("ftp://h", "d", None),
            Err(EndpointError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            Endpoint::new("h:4000", "d", None),
            Err(EndpointError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            Endpoint::new("http:///x", "d", None),
            Err(EndpointError::MissingHost { .. })
        ));
        assert!(matches!(
            Endpoint::new("http://h", "", None),
            Err(EndpointError::EmptyDocument)
        ));
    }
}
