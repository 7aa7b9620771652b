//! Everything the client and the file mirror can fail with.
//!
//! Only failures that retrying cannot cure end a [`crate::Client`]: a refused token, a server
//! that is not a Yjs server, a document the server will never accept. Dropped connections, restarts
//! and overload are retried (see [`crate::reconnect`]) and show up only in the client's status.

use std::path::PathBuf;

use tokio_tungstenite::tungstenite;

/// Why a server URL and document id do not make a WebSocket address.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The URL's scheme is not `http`, `https`, `ws` or `wss`.
    #[error("unsupported URL scheme in {url:?}: use http://, https://, ws:// or wss://")]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
    /// The URL names no host.
    #[error("the URL {url:?} names no host")]
    MissingHost {
        /// The URL as given.
        url: String,
    },
    /// The assembled address does not parse as a URI.
    #[error("invalid server address {url:?}: {source}")]
    InvalidAddress {
        /// The address, with any token removed.
        url: String,
        /// What the URI parser said.
        #[source]
        source: tungstenite::http::uri::InvalidUri,
    },
    /// The document id is empty.
    #[error("the document id is empty")]
    EmptyDocument,
}

/// Why a [`crate::Client`] stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the WebSocket upgrade with a status that retrying cannot change
    /// (401: no, a malformed or an expired token; 403: a token for another document or a
    /// disallowed origin; 400: an invalid document id; 404: not a Quire URL).
    #[error("the server refused the connection: HTTP {status}: {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The response body (Quire sends a JSON error).
        body: String,
    },
    /// The server closed the connection with a code that says reconnecting would not help
    /// (4400-4499, as y-websocket treats them, or a protocol error such as 1007 or 1009).
    #[error("the server closed the connection for good: {code} {reason}")]
    ClosedForGood {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The server refused this client's edits (a read-only token).
    #[error("the server refused our edits: {0}")]
    PermissionDenied(String),
    /// The server sent something that is not a y-protocols message, or an update the document
    /// could not take.
    #[error("the server sent an unusable frame: {0}")]
    Protocol(#[source] crdt_core::ProtocolError),
    /// Connecting failed this many times in a row, the most the reconnect policy allows.
    #[error("gave up after {attempts} failed attempts; last: {last}")]
    GaveUp {
        /// Consecutive failed attempts.
        attempts: u32,
        /// What the last attempt ran into.
        last: String,
    },
    /// The connection cannot be made as addressed: a TLS failure (an untrusted or mismatched
    /// certificate) or an address the WebSocket library refuses.
    #[error("cannot connect: {0}")]
    Connect(#[source] tungstenite::Error),
    /// The client was shut down (or had already stopped) before the awaited event.
    #[error("the client has stopped")]
    Stopped,
    /// The client's task panicked.
    #[error("the client task failed: {0}")]
    TaskFailed(#[source] tokio::task::JoinError),
}

/// Why a [`crate::FileMirror`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The connection to the server ended for good.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The mirrored file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text, so it cannot be a document's text.
    #[error("{path} is not UTF-8 text")]
    NotText {
        /// The mirrored file.
        path: PathBuf,
    },
    /// The document's text could not be written to the file.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The mirrored file (or the temporary file next to it).
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The file changed every time the mirror tried to write it at start.
    #[error("{path} keeps changing; cannot take a consistent first look at it")]
    Unstable {
        /// The mirrored file.
        path: PathBuf,
    },
    /// The file's directory could not be watched.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The watched directory.
        path: PathBuf,
        /// What the watcher said.
        #[source]
        source: notify::Error,
    },
}
