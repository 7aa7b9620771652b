//! One benchmark client's socket: connect, authenticate, sync, then hand the halves out.
//!
//! Every workload opens its clients through a [`Connector`], so each socket is set up alike:
//! TCP_NODELAY (updates are small and latency is measured), small deliberate WebSocket buffers
//! (19,000 idle clients at tungstenite's default 128 KiB read buffer would be 2.4 GB), an
//! optional source address from a rotating list (past the ephemeral-port range and per-address
//! connection limits), and the full sync handshake before the socket is used: the client sends
//! SyncStep1, answers the server's SyncStep1 with SyncStep2 and waits for the server's SyncStep2.
//! A measurement never starts on a half-joined client.
//!
//! A join may offer permessage-deflate (W4's `--compression`): the socket is then read through
//! `websocket-deflate`'s scan, and compressed messages are inflated during the handshake. Only
//! the handshake inflates, so only workloads whose large messages arrive while joining offer it.
//! Every client counts the bytes it reads, for the bytes a workload put on the wire.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream, lookup_host};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};
use websocket_deflate::{CLIENT_OFFER, CompressedMarks, FrameScanner, MarkingStream, inflate};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::protocol::{FrameError, Framing, Incoming, Protocol};
use crate::wire::CountingStream;

/// How long connecting and syncing one client may take.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(60);

/// Bytes read from the socket at a time; small, since most clients hold few bytes in flight.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Bytes gathered before a write reaches the socket; a writer that pipelines updates flushes
/// explicitly after each burst, so this only batches within a burst.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Largest message a compressed join may inflate to.
const MAX_INFLATED_BYTES: usize = 1 << 30;

/// A client's socket: counted, and scanned for compressed messages when it offered compression.
pub type ClientSocket = WebSocketStream<MarkingStream<CountingStream>>;
/// The writing half of a synced client.
pub type FrameSink = SplitSink<ClientSocket, Message>;
/// The reading half of a synced client.
pub type FrameStream = SplitStream<ClientSocket>;

/// Why a client could not join.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL's host did not resolve.
    #[error("cannot resolve {url}: {source}")]
    Resolve { url: String, source: std::io::Error },
    /// TCP connect (or binding the source address) failed.
    #[error("cannot connect to {address}: {source}")]
    Tcp {
        address: SocketAddr,
        source: std::io::Error,
    },
    /// The WebSocket upgrade or a later read or write failed.
    #[error("WebSocket error on {url}: {source}")]
    WebSocket {
        url: String,
        source: Box<tungstenite::Error>,
    },
    /// The server closed the socket before the handshake finished.
    #[error("{url} closed during the handshake: {reason}")]
    Closed { url: String, reason: String },
    /// The server refused the token.
    #[error("{url} denied access: {reason}")]
    PermissionDenied { url: String, reason: String },
    /// The server sent something unreadable.
    #[error("{url} sent an unreadable frame: {source}")]
    Frame { url: String, source: FrameError },
    /// A compressed message did not inflate.
    #[error("{url} sent a compressed message that does not inflate: {source}")]
    Inflate {
        url: String,
        source: websocket_deflate::InflateError,
    },
    /// The server's SyncStep1 carried a state vector that does not decode.
    #[error("{url} sent a SyncStep1 that does not decode: {source}")]
    BadStateVector {
        url: String,
        source: yrs::encoding::read::Error,
    },
    /// The handshake took longer than [`HANDSHAKE_LIMIT`].
    #[error("{url}: no sync within {HANDSHAKE_LIMIT:?}")]
    Timeout { url: String },
    /// The URL does not start with ws:// (wss is not supported: the benchmark measures servers
    /// on loopback, where TLS would measure the cipher).
    #[error("unsupported URL {0:?}: use ws://host:port")]
    Url(String),
}

/// Opens clients to one server, all alike, or to the nodes of one cluster in turn.
#[derive(Debug)]
pub struct Connector {
    /// The servers' `host:port`s: one, or a cluster's nodes, which clients join in turn.
    host_ports: Vec<String>,
    next_node: AtomicUsize,
    room_path_prefix: String,
    protocol: Protocol,
    token: Option<String>,
    source_addresses: Vec<IpAddr>,
    next_source: AtomicUsize,
    /// Bytes every client of this connector has read from its socket.
    bytes_read: Arc<AtomicU64>,
}

/// A client that completed the sync handshake.
pub struct SyncedClient {
    /// Adds and strips this connection's document prefix.
    pub framing: Framing,
    /// Sends frames.
    pub sink: FrameSink,
    /// Receives frames.
    pub stream: FrameStream,
    /// The update the server's SyncStep2 carried (the room's document, as the server sent it).
    pub document: Bytes,
    /// Updates that arrived during the handshake, in order.
    pub early_updates: Vec<Bytes>,
}

impl Connector {
    /// A connector to `urls` (`ws://host:port`, an optional path is kept as the prefix's
    /// start: the first URL's). With several URLs (a cluster's nodes) each join goes to the next.
    pub fn new(
        urls: &[String],
        room_path_prefix: &str,
        protocol: Protocol,
        token: Option<String>,
        source_addresses: Vec<IpAddr>,
    ) -> Result<Self, ConnectError> {
        let mut host_ports = Vec::with_capacity(urls.len());
        let mut prefix_path = None;
        for url in urls {
            let rest = url
                .strip_prefix("ws://")
                .ok_or_else(|| ConnectError::Url(url.to_owned()))?;
            let (host_port, path) = match rest.find('/') {
                Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
                None => (rest, ""),
            };
            host_ports.push(host_port.to_owned());
            prefix_path.get_or_insert(path);
        }
        let path = prefix_path.ok_or_else(|| ConnectError::Url(String::new()))?;
        Ok(Connector {
            host_ports,
            next_node: AtomicUsize::new(0),
            room_path_prefix: format!("{path}{room_path_prefix}"),
            protocol,
            token,
            source_addresses,
            next_source: AtomicUsize::new(0),
            bytes_read: Arc::default(),
        })
    }

    /// Bytes every client of this connector has read from its socket so far, HTTP and
    /// WebSocket framing included.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// How many source addresses clients rotate through (0: the system picks).
    pub fn source_address_count(&self) -> usize {
        self.source_addresses.len()
    }

    /// The WebSocket URL a client of `room` opens on server `node` (of the URLs given, in
    /// order): the room in the path for y-websocket, the prefix alone for Hocuspocus (which
    /// names the document inside each message).
    fn url_on(&self, node: usize, room: &str) -> String {
        let host_port = &self.host_ports[node % self.host_ports.len()];
        let mut url = format!("ws://{host_port}{}", self.room_path_prefix);
        if self.protocol == Protocol::YWebsocket {
            url.push_str(room);
        }
        if let Some(token) = &self.token
            && self.protocol == Protocol::YWebsocket
        {
            url.push_str("?token=");
            url.push_str(token);
        }
        url
    }

    /// Connects to `room` and completes the sync; `doc` (when given) is what the client holds,
    /// else it holds nothing.
    pub async fn join(&self, room: &str, doc: Option<&Doc>) -> Result<SyncedClient, ConnectError> {
        self.join_offering(room, doc, false).await
    }

    /// [`Connector::join`], offering permessage-deflate if `compression`.
    pub async fn join_offering(
        &self,
        room: &str,
        doc: Option<&Doc>,
        compression: bool,
    ) -> Result<SyncedClient, ConnectError> {
        let node = self.next_node.fetch_add(1, Ordering::Relaxed);
        let url = self.url_on(node, room);
        let joining = self.join_within(&url, room, doc, compression);
        match tokio::time::timeout(HANDSHAKE_LIMIT, joining).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Timeout { url }),
        }
    }

    async fn join_within(
        &self,
        url: &str,
        room: &str,
        doc: Option<&Doc>,
        compression: bool,
    ) -> Result<SyncedClient, ConnectError> {
        let host_port = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let stream = CountingStream::new(
            self.open_tcp(url, host_port).await?,
            self.bytes_read.clone(),
        );
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(WRITE_BUFFER_BYTES);
        let mut request = url
            .into_client_request()
            .map_err(|source| websocket_error(url, source))?;
        let marks = compression.then(CompressedMarks::default);
        if compression {
            request.headers_mut().insert(
                "Sec-WebSocket-Extensions",
                HeaderValue::from_static(CLIENT_OFFER),
            );
        }
        let scanner = marks.clone().map(FrameScanner::after_http_head);
        let stream = MarkingStream::new(stream, scanner);
        let (socket, response) = client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|source| websocket_error(url, source))?;
        // A server that declined sends nothing compressed; the marks then stay false.
        let agreed = response
            .headers()
            .get("Sec-WebSocket-Extensions")
            .is_some_and(|value| value.as_bytes().starts_with(b"permessage-deflate"));
        let (mut sink, mut stream) = socket.split();
        let framing = Framing::new(self.protocol, room);
        let mut handshake = Handshake {
            url,
            framing: &framing,
            sink: &mut sink,
            stream: &mut stream,
            deflate: marks.filter(|_| agreed),
        };
        if self.protocol == Protocol::Hocuspocus {
            let token = self.token.as_deref().unwrap_or("quire-bench");
            handshake.send(framing.auth(token)).await?;
            handshake.authenticated().await?;
        }
        let state = doc.map_or_else(StateVector::default, |doc| doc.transact().state_vector());
        handshake.send(framing.sync_step1(&state)).await?;
        let (document, early_updates) = handshake.synced(doc).await?;
        Ok(SyncedClient {
            framing,
            sink,
            stream,
            document,
            early_updates,
        })
    }

    async fn open_tcp(&self, url: &str, host_port: &str) -> Result<TcpStream, ConnectError> {
        let address = lookup_host(host_port)
            .await
            .and_then(|mut addresses| {
                addresses
                    .next()
                    .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
            })
            .map_err(|source| ConnectError::Resolve {
                url: url.to_owned(),
                source,
            })?;
        let tcp_error = |source| ConnectError::Tcp { address, source };
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(tcp_error)?;
        if !self.source_addresses.is_empty() {
            let index = self.next_source.fetch_add(1, Ordering::Relaxed);
            let source = self.source_addresses[index % self.source_addresses.len()];
            socket.bind(SocketAddr::new(source, 0)).map_err(tcp_error)?;
        }
        let stream = socket.connect(address).await.map_err(tcp_error)?;
        stream.set_nodelay(true).map_err(tcp_error)?;
        Ok(stream)
    }
}

/// The steps of joining, over one socket.
struct Handshake<'a> {
    url: &'a str,
    framing: &'a Framing,
    sink: &'a mut FrameSink,
    stream: &'a mut FrameStream,
    /// Which messages arrive compressed, when the server agreed to compression.
    deflate: Option<CompressedMarks>,
}

impl Handshake<'_> {
    async fn send(&mut self, frame: Bytes) -> Result<(), ConnectError> {
        self.sink
            .send(Message::Binary(frame))
            .await
            .map_err(|source| websocket_error(self.url, source))
    }

    /// The next binary frame; pings are answered by tungstenite as it reads.
    async fn next_frame(&mut self) -> Result<Bytes, ConnectError> {
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Binary(frame))) => return self.inflated(frame),
                Some(Ok(Message::Text(_))) => {
                    self.inflated(Bytes::new())?;
                }
                Some(Ok(Message::Close(close))) => {
                    return Err(ConnectError::Closed {
                        url: self.url.to_owned(),
                        reason: close.map_or_else(
                            || "no close frame".to_owned(),
                            |close| format!("{} {}", u16::from(close.code), close.reason),
                        ),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(source)) => return Err(websocket_error(self.url, source)),
                None => {
                    return Err(ConnectError::Closed {
                        url: self.url.to_owned(),
                        reason: "connection ended".to_owned(),
                    });
                }
            }
        }
    }

    /// `frame` inflated if it arrived compressed.
    fn inflated(&self, frame: Bytes) -> Result<Bytes, ConnectError> {
        if !self.deflate.as_ref().is_some_and(CompressedMarks::take) {
            return Ok(frame);
        }
        inflate(&frame, MAX_INFLATED_BYTES)
            .map(Bytes::from)
            .map_err(|source| ConnectError::Inflate {
                url: self.url.to_owned(),
                source,
            })
    }

    async fn authenticated(&mut self) -> Result<(), ConnectError> {
        loop {
            let frame = self.next_frame().await?;
            match self
                .framing
                .read(&frame)
                .map_err(|source| self.frame_error(source))?
            {
                Incoming::Authenticated => return Ok(()),
                Incoming::PermissionDenied(reason) => return Err(self.denied(reason)),
                _ => {}
            }
        }
    }

    /// Waits for the server's SyncStep2, answering its SyncStep1 on the way.
    async fn synced(&mut self, doc: Option<&Doc>) -> Result<(Bytes, Vec<Bytes>), ConnectError> {
        let mut early_updates = Vec::new();
        loop {
            let frame = self.next_frame().await?;
            let reply = match self
                .framing
                .read(&frame)
                .map_err(|source| self.frame_error(source))?
            {
                Incoming::SyncStep1(remote_state) => Some(self.answer(remote_state, doc)?),
                Incoming::SyncStep2(update) => return Ok((frame.slice_ref(update), early_updates)),
                Incoming::Update(update) => {
                    early_updates.push(frame.slice_ref(update));
                    None
                }
                Incoming::PermissionDenied(reason) => return Err(self.denied(reason)),
                _ => None,
            };
            if let Some(reply) = reply {
                self.send(reply).await?;
            }
        }
    }

    fn answer(&self, remote_state: &[u8], doc: Option<&Doc>) -> Result<Bytes, ConnectError> {
        let Some(doc) = doc else {
            return Ok(self.framing.empty_sync_step2());
        };
        let remote_state = StateVector::decode_v1(remote_state).map_err(|source| {
            ConnectError::BadStateVector {
                url: self.url.to_owned(),
                source,
            }
        })?;
        let diff = doc.transact().encode_diff_v1(&remote_state);
        Ok(self.framing.sync_step2(&diff))
    }

    fn frame_error(&self, source: FrameError) -> ConnectError {
        ConnectError::Frame {
            url: self.url.to_owned(),
            source,
        }
    }

    fn denied(&self, reason: String) -> ConnectError {
        ConnectError::PermissionDenied {
            url: self.url.to_owned(),
            reason,
        }
    }
}

fn websocket_error(url: &str, source: tungstenite::Error) -> ConnectError {
    ConnectError::WebSocket {
        url: url.to_owned(),
        source: Box::new(source),
    }
}

/// Sends `frame` now (one frame, flushed).
pub async fn send_now(sink: &mut FrameSink, frame: Bytes) -> Result<(), tungstenite::Error> {
    sink.send(Message::Binary(frame)).await
}

/// Queues `frame` without flushing; pair with [`flush`] after a burst.
pub async fn feed(sink: &mut FrameSink, frame: Bytes) -> Result<(), tungstenite::Error> {
    sink.feed(Message::Binary(frame)).await
}

/// Writes whatever [`feed`] queued.
pub async fn flush(sink: &mut FrameSink) -> Result<(), tungstenite::Error> {
    sink.flush().await
}

/// Describes how a stream ended, for a report's problem list.
pub fn describe_end(message: Option<Result<Message, tungstenite::Error>>) -> String {
    match message {
        Some(Ok(Message::Close(Some(close)))) => {
            format!(
                "closed by the server: {} {}",
                u16::from(close.code),
                close.reason
            )
        }
        Some(Ok(Message::Close(None))) => "closed by the server".to_owned(),
        Some(Err(error)) => format!("socket error: {error}"),
        None => "connection ended".to_owned(),
        Some(Ok(_)) => "unexpected message".to_owned(),
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
