//! Reading a connection in large chunks while a large message streams in, and in the reader's
//! own small ones otherwise.
//!
//! tungstenite reads at most its read buffer's size per call, and that buffer is 1 KiB (see
//! `websocket::upgrade::READ_BUFFER_BYTES`: it is zero-filled and kept for the connection's
//! life, so every idle connection pays for it). A 1 MB message therefore took 1,024 `recv`
//! calls. [`ReadAhead`] sits under tungstenite: when a read fills the reader's buffer completely,
//! more is probably waiting, and the next reads fetch up to [`READ_AHEAD_BYTES`] at a time into a
//! buffer of its own, which the small reads are then served from. The buffer exists only while
//! data keeps coming that fast: it is let go once drained after a short read, or as soon as the
//! socket has nothing more, so idle connections never hold one.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

/// How much one read fetches while a large message streams in.
pub const READ_AHEAD_BYTES: usize = 64 * 1024;

/// Bytes read ahead of the reader, and whether to read ahead at all.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    /// Empty unless reading ahead; then `READ_AHEAD_BYTES` long, holding `start..end`.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    /// The last read came back full: more is probably waiting.
    streaming: bool,
}

impl ReadAhead {
    /// Reads from `inner` into `out`: from the bytes read ahead if there are any, else from
    /// `inner` directly, or through a large read-ahead while a large message streams in.
    pub(crate) fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        context: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.start < self.end {
            self.serve(out);
            return Poll::Ready(Ok(()));
        }
        let wanted = out.remaining();
        if !self.streaming || wanted >= READ_AHEAD_BYTES {
            // Drained here; a buffer still held would otherwise stay for the connection's life.
            self.release();
            let before = out.filled().len();
            ready!(Pin::new(inner).poll_read(context, out))?;
            let got = out.filled().len() - before;
            self.streaming = got > 0 && got == wanted;
            return Poll::Ready(Ok(()));
        }
        if self.buffer.is_empty() {
            self.buffer = vec![0; READ_AHEAD_BYTES];
        }
        let mut ahead = ReadBuf::new(&mut self.buffer);
        match Pin::new(inner).poll_read(context, &mut ahead) {
            Poll::Pending => {
                // Nothing more for now: the message is in, or the sender is slow. Either way, no
                // buffer is held while waiting.
                self.release();
                Poll::Pending
            }
            Poll::Ready(Err(error)) => {
                self.release();
                Poll::Ready(Err(error))
            }
            Poll::Ready(Ok(())) => {
                let got = ahead.filled().len();
                self.streaming = got == READ_AHEAD_BYTES;
                self.start = 0;
                self.end = got;
                // An end of stream (nothing read) leaves `out` as it was, which says so.
                self.serve(out);
                Poll::Ready(Ok(()))
            }
        }
    }

    /// Copies what `out` has room for from the bytes read ahead; lets the buffer go once they are
    /// all served, unless more is expected at once.
    fn serve(&mut self, out: &mut ReadBuf<'_>) {
        let count = out.remaining().min(self.end - self.start);
        out.put_slice(&self.buffer[self.start..self.start + count]);
        self.start += count;
        if self.start == self.end && !self.streaming {
            self.release();
        }
    }

    fn release(&mut self) {
        self.buffer = Vec::new();
        self.start = 0;
        self.end = 0;
        self.streaming = false;
    }

    /// Whether a read-ahead buffer is held (for tests).
    #[cfg(test)]
    fn holds_buffer(&self) -> bool {
        !self.buffer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A stream that counts the reads that reach it.
    struct CountingReads<S> {
        inner: S,
        reads: usize,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for CountingReads<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            context: &mut Context<'_>,
            buffer: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.reads += 1;
            Pin::new(&mut self.inner).poll_read(context, buffer)
        }
    }

    /// Reads everything until end of stream in `chunk`-byte reads, as tungstenite does.
    async fn read_all<S: AsyncRead + Unpin>(
        ahead: &mut ReadAhead,
        stream: &mut S,
        chunk: usize,
    ) -> Vec<u8> {
        let mut everything = Vec::new();
        loop {
            let mut bytes = vec![0; chunk];
            let mut out = ReadBuf::new(&mut bytes);
            poll_fn(|context| ahead.poll_read(stream, context, &mut out))
                .await
                .unwrap();
            if out.filled().is_empty() {
                return everything;
            }
            everything.extend_from_slice(out.filled());
        }
    }

    #[tokio::test]
    async fn a_large_message_takes_few_reads_and_arrives_whole() {
        let message: Vec<u8> = (0..1_000_000_u32)
            .map(|index| (index % 251) as u8)
            .collect();
        let (mut writer, reader) = tokio::io::duplex(2 * 1024 * 1024);
        writer.write_all(&message).await.unwrap();
        drop(writer);
        let mut stream = CountingReads {
            inner: reader,
            reads: 0,
        };
        let mut ahead = ReadAhead::default();
        let received = read_all(&mut ahead, &mut stream, 1024).await;
        assert_eq!(received, message);
        // 1 KiB reads straight from the socket would be about a thousand.
        assert!(
            stream.reads < 40,
            "{} reads reached the stream",
            stream.reads
        );
        assert!(
            !ahead.holds_buffer(),
            "the buffer goes at the end of the stream"
        );
    }

    #[tokio::test]
    async fn small_messages_are_read_directly_and_no_buffer_is_kept() {
        let (mut writer, reader) = tokio::io::duplex(64 * 1024);
        let mut stream = CountingReads {
            inner: reader,
            reads: 0,
        };
        let mut ahead = ReadAhead::default();
        for round in 0..5_u8 {
            writer.write_all(&[round; 100]).await.unwrap();
            let mut bytes = [0; 1024];
            let mut out = ReadBuf::new(&mut bytes);
            poll_fn(|context| ahead.poll_read(&mut stream, context, &mut out))
                .await
                .unwrap();
            assert_eq!(out.filled(), &[round; 100][..]);
            assert!(!ahead.holds_buffer());
        }
        assert_eq!(stream.reads, 5, "one read per message");
    }

    #[tokio::test]
    async fn a_large_direct_read_lets_a_drained_buffer_go() {
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        writer
            .write_all(&[3; 1024 + READ_AHEAD_BYTES + 8])
            .await
            .unwrap();
        let mut stream = CountingReads {
            inner: reader,
            reads: 0,
        };
        let mut ahead = ReadAhead::default();
        let mut read = |size: usize| {
            let mut bytes = vec![0; size];
            let mut out = ReadBuf::new(&mut bytes);
            let waker = futures_util::task::noop_waker();
            let polled = ahead.poll_read(&mut stream, &mut Context::from_waker(&waker), &mut out);
            assert!(polled.is_ready());
            out.filled().len()
        };
        // One full direct read, then a full read-ahead served 1 KiB at a time until drained:
        // the buffer is still held, more being expected.
        let mut received = read(1024);
        while received < 1024 + READ_AHEAD_BYTES {
            received += read(1024);
        }
        assert_eq!(received, 1024 + READ_AHEAD_BYTES);
        // A reader asking for as much as a read-ahead reads directly, and the buffer goes.
        assert_eq!(read(READ_AHEAD_BYTES), 8);
        assert!(!ahead.holds_buffer());
    }

    #[tokio::test]
    async fn a_socket_with_nothing_more_lets_the_buffer_go() {
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        writer.write_all(&[7; 3000]).await.unwrap();
        let mut stream = CountingReads {
            inner: reader,
            reads: 0,
        };
        let mut ahead = ReadAhead::default();
        let mut received = 0;
        while received < 3000 {
            let mut bytes = [0; 1024];
            let mut out = ReadBuf::new(&mut bytes);
            poll_fn(|context| ahead.poll_read(&mut stream, context, &mut out))
                .await
                .unwrap();
            assert!(out.filled().iter().all(|byte| *byte == 7));
            received += out.filled().len();
        }
        assert_eq!(received, 3000);
        // Nothing is waiting now: a read finds the socket empty and holds no buffer meanwhile.
        let mut bytes = [0; 1024];
        let mut out = ReadBuf::new(&mut bytes);
        let waker = futures_util::task::noop_waker();
        let pending = ahead.poll_read(&mut stream, &mut Context::from_waker(&waker), &mut out);
        assert!(pending.is_pending());
        assert!(!ahead.holds_buffer());
    }
}
