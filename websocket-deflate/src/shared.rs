//! A message sent to many connections, compressed at most once.
//!
//! A room encodes a broadcast once and every receiver's queue holds the same bytes. With
//! `server_no_context_takeover` the compressed form depends on the message alone, so it is shared
//! the same way: the first connection that sends the message compressed computes it, and the
//! others take the same bytes. Small messages skip all of it: below [`COMPRESSION_THRESHOLD`] a
//! Yjs update gains little from deflate, and a broadcast pays nothing extra, not even an
//! allocation for the slot.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::codec::compress;

/// Messages shorter than this are always sent as they are.
pub const COMPRESSION_THRESHOLD: usize = 1024;

/// A message's bytes and, for a message at least [`COMPRESSION_THRESHOLD`] long, the slot its
/// compressed form is kept in once computed. Cloning shares both.
#[derive(Debug, Clone)]
pub struct SharedMessage {
    bytes: Bytes,
    /// The compressed form, `None` inside when compressing did not make it smaller.
    compressed: Option<Arc<OnceLock<Option<Bytes>>>>,
}

impl SharedMessage {
    /// A message of `bytes`, compressed (if ever) on first use.
    pub fn new(bytes: Bytes) -> Self {
        let compressed = (bytes.len() >= COMPRESSION_THRESHOLD).then(Default::default);
        SharedMessage { bytes, compressed }
    }

    /// The message as it is.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The message as it is, without the slot: sending a message uncompressed moves its bytes
    /// out rather than touching their shared count once more.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The message's length as it is.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether `bytes` are this message's very bytes (the same memory, not only equal).
    pub fn holds(&self, bytes: &Bytes) -> bool {
        self.bytes.as_ptr() == bytes.as_ptr() && self.bytes.len() == bytes.len()
    }

    /// The compressed payload to send instead, if the message is large enough to compress and
    /// compressing makes it smaller. Computed on the first call, by whichever connection makes
    /// it; later calls (from any clone) share the result.
    pub fn compressed(&self) -> Option<&Bytes> {
        self.compressed_by(compress)
    }

    /// [`SharedMessage::compressed`], with `compress` doing the compressing if it is still to be
    /// done (to count or time it).
    pub fn compressed_by(&self, compress: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> Option<&Bytes> {
        let slot = self.compressed.as_ref()?;
        slot.get_or_init(|| {
            compress(&self.bytes)
                .filter(|compressed| compressed.len() < self.bytes.len())
                .map(Bytes::from)
        })
        .as_ref()
    }
}

/// Messages are equal when their bytes are; how far compression has got does not matter.
impl PartialEq for SharedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for SharedMessage {}

impl From<Bytes> for SharedMessage {
    fn from(bytes: Bytes) -> Self {
        SharedMessage::new(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::inflate;

    #[test]
    fn small_messages_are_never_compressed() {
        let message = SharedMessage::new(Bytes::from(vec![b'a'; COMPRESSION_THRESHOLD - 1]));
        assert!(message.compressed().is_none());
    }

    #[test]
    fn a_large_message_is_compressed_once_for_every_clone() {
        let message = SharedMessage::new(Bytes::from(vec![b'a'; 100_000]));
        let other = message.clone();
        let first = message.compressed().unwrap().clone();
        let second = other.compressed().unwrap();
        assert_eq!(first.as_ptr(), second.as_ptr(), "the same compressed bytes");
        assert_eq!(inflate(&first, 100_000).unwrap(), message.bytes().as_ref());
    }

    #[test]
    fn a_message_that_does_not_shrink_is_sent_as_it_is() {
        // Bytes from a simple generator that deflate cannot shrink.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(
            SharedMessage::new(Bytes::from(noise))
                .compressed()
                .is_none()
        );
    }

    #[test]
    fn holds_means_the_same_memory() {
        let bytes = Bytes::from(vec![1u8; 2000]);
        let message = SharedMessage::new(bytes.clone());
        assert!(message.holds(&bytes));
        assert!(!message.holds(&Bytes::from(vec![1u8; 2000])));
    }
}
