//! The WebSocket handshake both endpoints answer themselves: a valid request is switched with
//! the right accept key, a bad one is refused with a 4xx and a JSON error naming what is wrong.

use anyhow::{Context, Result};
use quire_tests::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The sample key of RFC 6455 section 1.3 and the accept value it must produce.
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The paths of both WebSocket endpoints.
const ENDPOINTS: [&str; 2] = ["/ws/handshake", "/hocuspocus"];

/// What the server answered to a hand-written upgrade request.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Header lines, lowercased names.
    headers: Vec<(String, String)>,
    body: Option<serde_json::Value>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `GET path` with the upgrade headers `headers` and reads the response head, and the
/// body when there is one (a refused upgrade leaves the connection open, so by its length).
async fn request_upgrade(server: &TestServer, path: &str, headers: &[&str]) -> Result<Answer> {
    let mut stream = BufReader::new(TcpStream::connect(server.address()).await?);
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: quire\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.get_mut().write_all(request.as_bytes()).await?;

    let mut status_line = String::new();
    stream.read_line(&mut status_line).await?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut response_headers = Vec::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').context("a header line has a colon")?;
        response_headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut answer = Answer {
        status,
        headers: response_headers,
        body: None,
    };
    if status != 101 {
        let length: usize = answer
            .header("content-length")
            .context("a refusal has a Content-Length")?
            .parse()?;
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        answer.body = Some(serde_json::from_slice(&body).with_context(|| {
            format!("the body is not JSON: {}", String::from_utf8_lossy(&body))
        })?);
    }
    Ok(answer)
}

fn upgrade_headers<'a>(key: &'a str, version: &'a str) -> [String; 4] {
    [
        "Connection: Upgrade".to_owned(),
        "Upgrade: websocket".to_owned(),
        format!("Sec-WebSocket-Version: {version}"),
        format!("Sec-WebSocket-Key: {key}"),
    ]
}

async fn upgrade_with(server: &TestServer, path: &str, headers: &[String]) -> Result<Answer> {
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    request_upgrade(server, path, &headers).await
}

/// A valid handshake is switched with the accept key RFC 6455 derives from the client's key.
#[tokio::test]
async fn valid_handshake_is_answered_with_the_derived_accept_key() -> Result<()> {
    let server = TestServer::start().await?;
    for path in ENDPOINTS {
        let answer = upgrade_with(&server, path, &upgrade_headers(SAMPLE_KEY, "13")).await?;
        assert_eq!(answer.status, 101, "{path}: {answer:?}");
        assert_eq!(
            answer.header("sec-websocket-accept"),
            Some(SAMPLE_ACCEPT),
            "{path}"
        );
        assert!(
            answer
                .header("upgrade")
                .is_some_and(|value| value.eq_ignore_ascii_case("websocket")),
            "{path}: {answer:?}"
        );
    }
    Ok(())
}

/// A missing key, or one that is not 16 bytes in base64, is refused with 400 and a JSON error.
#[tokio::test]
async fn missing_or_invalid_key_is_refused_with_json_400() -> Result<()> {
    let server = TestServer::start().await?;
    for path in ENDPOINTS {
        let without_key = &upgrade_headers("", "13")[..3];
        for headers in [
            without_key.to_vec(),
            upgrade_headers("short", "13").to_vec(),
            upgrade_headers("dGhlIHNhbXBsZQ==", "13").to_vec(),
        ] {
            let answer = upgrade_with(&server, path, &headers).await?;
            assert_eq!(answer.status, 400, "{path} {headers:?}: {answer:?}");
            let body = answer.body.as_ref().expect("a refusal has a body");
            assert_eq!(body["code"], "invalid_websocket_key", "{body}");
            assert!(body["error"].is_string(), "{body}");
        }
    }
    Ok(())
}

/// A version other than 13 (or none) gets 426, a JSON error and the version to retry with.
#[tokio::test]
async fn wrong_version_is_refused_with_426_naming_version_13() -> Result<()> {
    let server = TestServer::start().await?;
    for path in ENDPOINTS {
        let mut without_version = upgrade_headers(SAMPLE_KEY, "13").to_vec();
        without_version.remove(2);
        for headers in [upgrade_headers(SAMPLE_KEY, "8").to_vec(), without_version] {
            let answer = upgrade_with(&server, path, &headers).await?;
            assert_eq!(answer.status, 426, "{path} {headers:?}: {answer:?}");
            assert_eq!(answer.header("sec-websocket-version"), Some("13"));
            let body = answer.body.as_ref().expect("a refusal has a body");
            assert_eq!(body["code"], "unsupported_websocket_version", "{body}");
            assert!(body["error"].is_string(), "{body}");
        }
    }
    Ok(())
}

/// `Connection` is a list: `keep-alive, Upgrade` (as Firefox sends it) is an upgrade too.
#[tokio::test]
async fn connection_header_listing_upgrade_among_others_is_accepted() -> Result<()> {
    let server = TestServer::start().await?;
    let mut headers = upgrade_headers(SAMPLE_KEY, "13");
    headers[0] = "Connection: keep-alive, Upgrade".to_owned();
    let answer = upgrade_with(&server, "/ws/firefox", &headers).await?;
    assert_eq!(answer.status, 101, "{answer:?}");
    Ok(())
}
