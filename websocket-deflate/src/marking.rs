//! The [`FrameScanner`] wrapped around a socket, for tungstenite to read through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::scanner::FrameScanner;

/// `inner`, with every byte read passed through a scanner when compression was agreed.
/// Writes pass untouched.
#[derive(Debug)]
pub struct MarkingStream<S> {
    inner: S,
    /// None when compression was not agreed: reads pass untouched too, at no cost. Boxed: the
    /// stream lives as long as its connection, and an idle connection's memory counts (W7); a
    /// pointer costs the connections that did not agree no more than eight bytes.
    scanner: Option<Box<FrameScanner>>,
}

impl<S> MarkingStream<S> {
    /// Wraps `inner`, scanning what is read from it with `scanner` if there is one.
    pub fn new(inner: S, scanner: Option<FrameScanner>) -> Self {
        MarkingStream {
            inner,
            scanner: scanner.map(Box::new),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MarkingStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buffer.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(context, buffer))?;
        if let Some(scanner) = &mut this.scanner {
            scanner.scan(&mut buffer.filled_mut()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MarkingStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(context, bytes)
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

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::scanner::CompressedMarks;

    #[tokio::test]
    async fn reads_are_scanned_only_when_compression_was_agreed() {
        let frame = [0x80 | 0x40 | 0x2, 1, 42];
        for agreed in [true, false] {
            let (mut client, server) = tokio::io::duplex(64);
            let marks = CompressedMarks::default();
            let scanner = agreed.then(|| FrameScanner::for_frames(marks.clone()));
            let mut stream = MarkingStream::new(server, scanner);
            client.write_all(&frame).await.unwrap();
            let mut read = [0; 3];
            stream.read_exact(&mut read).await.unwrap();
            if agreed {
                assert_eq!(read, [0x82, 1, 42]);
                assert!(marks.take());
            } else {
                assert_eq!(read, frame);
                assert!(!marks.take());
            }
            stream.write_all(b"out").await.unwrap();
            let mut written = [0; 3];
            client.read_exact(&mut written).await.unwrap();
            assert_eq!(&written, b"out");
        }
    }
}
