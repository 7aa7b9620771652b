//! Accepting connections so that neither half-open connections nor running out of file
//! descriptors can lock clients out.
//!
//! - **Limits counted from accept.** Every accepted connection takes a place under
//!   `--max-connections` and `--max-connections-per-ip` before anything is read from it, and
//!   keeps it, inside its stream ([`AcceptedStream`]), until it closes: through the HTTP request,
//!   the upgrade and the WebSocket's whole life. One past a limit is refused at once (see
//!   `accept_refusal`).
//! - **A deadline on the request.** A connection must finish its first HTTP request's headers (a
//!   WebSocket upgrade is one) within `--handshake-timeout-seconds`, or it is closed:
//!   [`AcceptedStream`] wraps its stream and fails its reads once the deadline has passed
//!   before the end of the headers (`\r\n\r\n`) was read. Without it, 21,000 connections that sent
//!   the start of an upgrade and nothing more held every descriptor for as long as they liked.
//! - **A descriptor in reserve.** At the open-files limit `accept` fails, and the connection it
//!   could not take waits in the backlog, its client hanging. [`Acceptor`] keeps one descriptor
//!   open for that moment: it lets go of it, accepts the waiting connection and closes it at once
//!   (the client sees the refusal), and takes the descriptor back. It logs once when descriptors
//!   run out and once when they are back, not on every failed accept.

use std::fs::File;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tracing::{error, info, warn};

use super::accept_refusal::RefusalWriter;
use super::read_ahead::ReadAhead;
use crate::limits::{ConnectionLimits, ConnectionPermit};

/// How a connection refused at accept is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusalAnswer {
    /// With the JSON error as a raw HTTP response (plain HTTP).
    HttpResponse,
    /// By closing it (TLS: a response would need the handshake first).
    Close,
}

/// Accepts TCP connections under the connection limits, keeping a descriptor in reserve for
/// when they run out.
pub(crate) struct Acceptor {
    tcp: TcpListener,
    limits: Arc<ConnectionLimits>,
    answer: RefusalAnswer,
    refusals: RefusalWriter,
    reserve: Option<File>,
    /// Descriptors ran out, and have not been seen back yet.
    exhausted: bool,
}

impl Acceptor {
    pub(crate) fn new(
        tcp: TcpListener,
        limits: Arc<ConnectionLimits>,
        answer: RefusalAnswer,
    ) -> Self {
        Acceptor {
            tcp,
            limits,
            answer,
            refusals: RefusalWriter::new(),
            reserve: File::open("/dev/null").ok(),
            exhausted: false,
        }
    }

    /// The next connection with a place under the limits, with `TCP_NODELAY` set (Yjs frames
    /// are small and latency-bound: Nagle would hold them back ~40 ms). Those past a limit are
    /// refused on the way.
    pub(crate) async fn accept(&mut self) -> (TcpStream, SocketAddr, ConnectionPermit) {
        loop {
            match self.tcp.accept().await {
                Ok((stream, peer)) => {
                    if self.exhausted && self.reserve.is_some() {
                        self.exhausted = false;
                        info!("file descriptors are available again; accepting connections");
                    }
                    let permit = match self.limits.admit(peer.ip()) {
                        Ok(permit) => permit,
                        Err(refusal) => {
                            match self.answer {
                                RefusalAnswer::HttpResponse => {
                                    self.refusals.refuse(stream, &refusal);
                                }
                                RefusalAnswer::Close => {
                                    crate::telemetry::record_refusal(refusal.code);
                                }
                            }
                            continue;
                        }
                    };
                    if let Err(error) = stream.set_nodelay(true) {
                        warn!(%error, "cannot set TCP_NODELAY");
                    }
                    return (stream, peer, permit);
                }
                Err(failure) if out_of_descriptors(&failure) => self.refuse_one(&failure).await,
                Err(failure) => {
                    // Errors of one connection (it was reset before we took it): go on.
                    warn!(error = %failure, "accepting a connection failed");
                }
            }
        }
    }

    /// Out of descriptors: takes the waiting connection with the reserve's descriptor and closes
    /// it, so its client is refused instead of left hanging.
    async fn refuse_one(&mut self, failure: &io::Error) {
        if !self.exhausted {
            self.exhausted = true;
            error!(error = %failure, "out of file descriptors: new connections are refused until some close");
        }
        if self.reserve.take().is_none() {
            // No reserve to spend (it could not be taken back yet): do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
        } else if let Some(Ok((refused, _))) = self.tcp.accept().now_or_never() {
            // Only a connection already waiting: waiting here would take, and refuse, the first
            // one to arrive after descriptors came back.
            drop(refused);
        }
        self.reserve = File::open("/dev/null").ok();
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Linux's `EMFILE` (this process's open-files limit) and `ENFILE` (the system's).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

fn out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(EMFILE | ENFILE))
}

/// The listener for plain HTTP: connections from an [`Acceptor`], each an [`AcceptedStream`].
pub(crate) struct PlainListener {
    acceptor: Acceptor,
    handshake_timeout: Duration,
}

impl PlainListener {
    pub(crate) fn new(
        tcp: TcpListener,
        handshake_timeout: Duration,
        limits: Arc<ConnectionLimits>,
    ) -> Self {
        PlainListener {
            acceptor: Acceptor::new(tcp, limits, RefusalAnswer::HttpResponse),
            handshake_timeout,
        }
    }
}

impl Listener for PlainListener {
    type Io = AcceptedStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, peer, permit) = self.acceptor.accept().await;
        (
            AcceptedStream::new(stream, self.handshake_timeout, permit),
            peer,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.acceptor.local_addr()
    }
}

/// An accepted connection's stream: it holds the connection's place under the limits until it
/// is dropped, and its reads fail once its deadline passes before the end of the first request's
/// headers has been read. Its reads go through a [`ReadAhead`], so a large message arrives in
/// large reads.
pub struct AcceptedStream<S> {
    inner: S,
    /// `None` once the headers are complete.
    deadline: Option<Pin<Box<Sleep>>>,
    /// How much of `\r\n\r\n` the bytes read so far end with.
    matched: usize,
    /// Given back when the connection, or the WebSocket it became, is dropped.
    _permit: ConnectionPermit,
    /// Large reads while a large message streams in (see `read_ahead`).
    ahead: ReadAhead,
}

impl<S> AcceptedStream<S> {
    pub(crate) fn new(inner: S, timeout: Duration, permit: ConnectionPermit) -> Self {
        AcceptedStream {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep_until(Instant::now() + timeout))),
            matched: 0,
            _permit: permit,
            ahead: ReadAhead::default(),
        }
    }

    /// Follows `bytes` through the end-of-headers marker; true once it has been seen.
    fn scan(&mut self, bytes: &[u8]) -> bool {
        const END: &[u8] = b"\r\n\r\n";
        for &byte in bytes {
            self.matched = if byte == END[self.matched] {
                self.matched + 1
            } else if byte == END[0] {
                1
            } else {
                0
            };
            if self.matched == END.len() {
                return true;
            }
        }
        false
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AcceptedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(deadline) = this.deadline.as_mut() else {
            return this.ahead.poll_read(&mut this.inner, context, buffer);
        };
        if deadline.as_mut().poll(context).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request's headers did not arrive within the handshake timeout",
            )));
        }
        let filled = buffer.filled().len();
        let read = this.ahead.poll_read(&mut this.inner, context, buffer);
        if let Poll::Ready(Ok(())) = read {
            let fresh = buffer.filled()[filled..].to_vec();
            if this.scan(&fresh) {
                this.deadline = None;
            }
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AcceptedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(context, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn permit() -> ConnectionPermit {
        ConnectionLimits::new(1, 1)
            .admit([127, 0, 0, 1].into())
            .expect("an empty limit has a place")
    }

    #[tokio::test(start_paused = true)]
    async fn reads_fail_after_the_deadline_until_the_headers_are_complete() {
        let (client, server) = tokio::io::duplex(1024);
        let mut guarded = AcceptedStream::new(server, Duration::from_secs(10), permit());
        let (mut client_read, mut client_write) = tokio::io::split(client);
        client_write
            .write_all(b"GET /ws/a HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buffer = [0; 64];
        let read = guarded.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..read], b"GET /ws/a HTTP/1.1\r\nHost: x\r\n");
        // Nothing more arrives: the read fails once the deadline passes (the clock is paused and
        // auto-advances while everything waits).
        let failed = guarded.read(&mut buffer).await.unwrap_err();
        assert_eq!(failed.kind(), io::ErrorKind::TimedOut);
        drop(client_read.read(&mut buffer));
    }

    #[tokio::test(start_paused = true)]
    async fn complete_headers_lift_the_deadline_even_when_split_across_reads() {
        let (client, server) = tokio::io::duplex(1024);
        let mut guarded = AcceptedStream::new(server, Duration::from_secs(10), permit());
        let (_client_read, mut client_write) = tokio::io::split(client);
        let mut buffer = [0; 64];
        for part in [&b"GET / HTTP/1.1\r\nHost: x\r"[..], b"\n", b"\r\n"] {
            client_write.write_all(part).await.unwrap();
            let _ = guarded.read(&mut buffer).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        client_write.write_all(b"later").await.unwrap();
        let read = guarded.read(&mut buffer).await.unwrap();
        assert_eq!(
            &buffer[..read],
            b"later",
            "the connection outlives the deadline"
        );
    }
}
