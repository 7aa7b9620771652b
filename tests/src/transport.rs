//! The TCP stream under a test client.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that, once the peer is gone, drops what is written instead of failing.
///
/// A test often reads a connection only after the server closed it (a client that stopped
/// reading). Reading applies frames and answers pings, and those answers hit a socket the server
/// already reset; tungstenite then fails the read that would have returned the close frame still
/// waiting in the kernel buffer. A browser reads that close frame regardless, and so does this
/// stream: reads are untouched, only writes to a departed peer are discarded.
pub struct TestStream {
    inner: TcpStream,
    peer_gone: bool,
}

impl TestStream {
    /// Wraps a connected stream.
    pub fn new(inner: TcpStream) -> Self {
        TestStream {
            inner,
            peer_gone: false,
        }
    }

    fn absorb<T>(&mut self, written: Poll<io::Result<T>>, discarded: T) -> Poll<io::Result<T>> {
        match written {
            Poll::Ready(Err(error))
                if matches!(
                    error.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                self.peer_gone = true;
                Poll::Ready(Ok(discarded))
            }
            other => other,
        }
    }
}

impl AsyncRead for TestStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(context, buffer)
    }
}

impl AsyncWrite for TestStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.peer_gone {
            return Poll::Ready(Ok(buffer.len()));
        }
        let written = Pin::new(&mut self.inner).poll_write(context, buffer);
        self.absorb(written, buffer.len())
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.peer_gone {
            return Poll::Ready(Ok(()));
        }
        let flushed = Pin::new(&mut self.inner).poll_flush(context);
        self.absorb(flushed, ())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.peer_gone {
            return Poll::Ready(Ok(()));
        }
        let shut = Pin::new(&mut self.inner).poll_shutdown(context);
        self.absorb(shut, ())
    }
}
