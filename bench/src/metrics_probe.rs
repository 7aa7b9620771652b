//! Reads one gauge from a Prometheus `/metrics` page (Quire's `quire_rooms_loaded`), so the
//! cold-load workload can wait until the server has unloaded every document.
//!
//! One plain HTTP/1.1 GET over a fresh TCP connection: the page is small, requests are rare and
//! an HTTP client library would be the largest dependency of the crate.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);

/// A metrics page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not `http://host:port/path`.
    #[error("unsupported metrics URL {0:?}: use http://host:port/metrics")]
    Url(String),
    /// Connecting, sending or receiving failed.
    #[error("GET {url}: {source}")]
    Io { url: String, source: std::io::Error },
    /// The server answered, but not 200 with the gauge.
    #[error("GET {url}: {why}")]
    Response { url: String, why: String },
}

/// Fetches `url` and returns the sum of gauge `name` over its label sets.
pub async fn read_gauge(url: &str, name: &str) -> Result<f64, ProbeError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ProbeError::Url(url.to_owned()))?;
    let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let io_error = |source| ProbeError::Io {
        url: url.to_owned(),
        source,
    };
    let response = tokio::time::timeout(REQUEST_LIMIT, async {
        let mut stream = TcpStream::connect(host_port).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok(response)
    })
    .await
    .map_err(|_| io_error(std::io::ErrorKind::TimedOut.into()))?
    .map_err(io_error)?;
    let response = String::from_utf8_lossy(&response);
    let refuse = |why: String| ProbeError::Response {
        url: url.to_owned(),
        why,
    };
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| refuse("no HTTP header".to_owned()))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(refuse(head.lines().next().unwrap_or_default().to_owned()));
    }
    gauge_value(body, name).ok_or_else(|| refuse(format!("no gauge {name}")))
}

/// Sums the samples of `name` (with or without labels) in a text exposition; `None` if absent.
/// Chunked transfer encoding is not decoded: a chunk-size line never parses as a sample of
/// `name`, so it is skipped like any other line.
fn gauge_value(body: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in body.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = if rest.starts_with('{') {
            rest.rsplit_once('}').map(|(_, value)| value)
        } else if rest.starts_with(' ') {
            Some(rest)
        } else {
            None
        };
        if let Some(value) = value.and_then(|value| value.split_whitespace().next())
            && let Ok(value) = value.parse::<f64>()
        {
            *total.get_or_insert(0.0) += value;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_a_gauge_over_labels_and_ignores_lookalikes() {
        let body = "# TYPE quire_rooms_loaded gauge\nquire_rooms_loaded 3\n\
                    quire_rooms_loaded_total 9\nother{a=\"b\"} 1\n";
        assert_eq!(gauge_value(body, "quire_rooms_loaded"), Some(3.0));
        let labelled = "x{protocol=\"a\"} 2\nx{protocol=\"b\"} 5\n";
        assert_eq!(gauge_value(labelled, "x"), Some(7.0));
        assert_eq!(gauge_value(body, "missing"), None);
    }
}
