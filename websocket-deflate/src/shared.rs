//! A message sent to many connections, compressed at most once.
//!
//! A room encodes a broadcast once and every receiver's queue holds the same bytes. With
//! `server_no_context_takeover` the compressed form depends on the message alone, so it is shared
//! the same way: the first connection that sends the message compressed computes it, and the
//! others take the same bytes. Small messages skip all of it: below [`COMPRESSION_THRESHOLD`] a
//! Yjs update gains little from deflate, and a broadcast pays nothing extra, not even an
//! allocation for the slot.
//!
//! Compressing a large message takes milliseconds (a 333 KB document, about 5 ms at level 6),
//! so it is async: the caller says how to compress (the server hands large ones to its blocking
//! pool) and other connections waiting for the same message yield rather than block their
//! thread. Messages over [`MAX_COMPRESSED_BYTES`] are never compressed: the time and a second
//! copy of the message in memory would be paid for the whole duration, once per change.
//!
//! Some protocols re-frame a room's message before sending it (Hocuspocus puts the document's
//! name in front), so the bytes that go out are not the room's. Every receiver of one room frames
//! them the same way, so a large message also keeps one *derived* message, made by the first
//! connection that asks and shared, with its own compressed form, by every connection that asks
//! with the same key.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::codec::compress;

/// Messages shorter than this are always sent as they are.
pub const COMPRESSION_THRESHOLD: usize = 1024;

/// Messages longer than this are always sent as they are.
pub const MAX_COMPRESSED_BYTES: usize = 16 * 1024 * 1024;

/// A message's bytes and, for a message at least [`COMPRESSION_THRESHOLD`] long, the slot its
/// compressed form (and a derived message) is kept in once computed. Cloning shares both.
#[derive(Debug, Clone)]
pub struct SharedMessage {
    bytes: Bytes,
    large: Option<Arc<Large>>,
}

/// What a large message computes at most once.
#[derive(Debug, Default)]
struct Large {
    /// The compressed form, `None` inside when compressing did not make it smaller.
    compressed: OnceCell<Option<Bytes>>,
    /// A message derived from this one, and the key it was derived with.
    derived: OnceLock<(Box<[u8]>, SharedMessage)>,
}

impl SharedMessage {
    /// A message of `bytes`, compressed (if ever) on first use.
    pub fn new(bytes: Bytes) -> Self {
        let large = (bytes.len() >= COMPRESSION_THRESHOLD).then(Default::default);
        SharedMessage { bytes, large }
    }

    /// The message `derive` makes of this one (its bytes framed for a protocol, say), made once
    /// for every caller with the same `key` and shared with its compressed form. A caller with
    /// another key, or a small message, gets a message of its own.
    pub fn derived(&self, key: &[u8], derive: impl FnOnce(&Bytes) -> Bytes) -> SharedMessage {
        let Some(large) = &self.large else {
            return SharedMessage::new(derive(&self.bytes));
        };
        let mut derive = Some(derive);
        let (stored_key, message) = large.derived.get_or_init(|| {
            let derive = derive.take().expect("called once");
            (key.into(), SharedMessage::new(derive(&self.bytes)))
        });
        match derive {
            Some(derive) if **stored_key != *key => SharedMessage::new(derive(&self.bytes)),
            _ => message.clone(),
        }
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
    /// it, here on the caller's thread; later calls (from any clone) share the result.
    pub async fn compressed(&self) -> Option<&Bytes> {
        self.compressed_by(|bytes| async move { compress(&bytes) })
            .await
    }

    /// [`SharedMessage::compressed`], with `compress` doing the compressing if it is still to be
    /// done (on a blocking pool, say, and counted).
    pub async fn compressed_by<F, Compressing>(&self, compress: F) -> Option<&Bytes>
    where
        F: FnOnce(Bytes) -> Compressing,
        Compressing: Future<Output = Option<Vec<u8>>>,
    {
        let large = self.large.as_ref()?;
        if self.bytes.len() > MAX_COMPRESSED_BYTES {
            return None;
        }
        large
            .compressed
            .get_or_init(|| async {
                compress(self.bytes.clone())
                    .await
                    .filter(|compressed| compressed.len() < self.bytes.len())
                    .map(Bytes::from)
            })
            .await
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

    #[tokio::test]
    async fn small_and_huge_messages_are_never_compressed() {
        let message = SharedMessage::new(Bytes::from(vec![b'a'; COMPRESSION_THRESHOLD - 1]));
        assert!(message.compressed().await.is_none());
        let huge = SharedMessage::new(Bytes::from(vec![b'a'; MAX_COMPRESSED_BYTES + 1]));
        assert!(huge.compressed().await.is_none());
    }

    #[tokio::test]
    async fn a_large_message_is_compressed_once_for_every_clone() {
        let message = SharedMessage::new(Bytes::from(vec![b'a'; 100_000]));
        let other = message.clone();
        let first = message.compressed().await.unwrap().clone();
        let second = other.compressed().await.unwrap();
        assert_eq!(first.as_ptr(), second.as_ptr(), "the same compressed bytes");
        assert_eq!(inflate(&first, 100_000).unwrap(), message.bytes().as_ref());
    }

    #[tokio::test]
    async fn a_message_that_does_not_shrink_is_sent_as_it_is() {
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
        let message = SharedMessage::new(Bytes::from(noise));
        assert!(message.compressed().await.is_none());
    }

    #[tokio::test]
    async fn a_derived_message_is_made_once_per_key_and_compressed_once() {
        let message = SharedMessage::new(Bytes::from(vec![b'a'; 10_000]));
        let framed = |bytes: &Bytes| Bytes::from([b"doc:".as_slice(), bytes].concat());
        let first = message.derived(b"doc", framed);
        let mut derived_again = false;
        let second = message.clone().derived(b"doc", |bytes| {
            derived_again = true;
            framed(bytes)
        });
        assert!(
            !derived_again,
            "the second caller with the key shares the first's"
        );
        assert!(first.holds(second.bytes()));
        assert_eq!(&first.bytes()[..4], b"doc:");
        let compressed = first.compressed().await.unwrap().as_ptr();
        assert_eq!(second.compressed().await.unwrap().as_ptr(), compressed);
        let other = message.derived(b"other", |bytes| {
            Bytes::from([b"x".as_slice(), bytes].concat())
        });
        assert_eq!(other.bytes()[0], b'x', "another key gets its own");
        assert!(!other.holds(first.bytes()));
    }

    #[test]
    fn a_small_message_is_derived_afresh() {
        let message = SharedMessage::new(Bytes::from_static(b"tiny"));
        let one = message.derived(b"k", |bytes| Bytes::from([b">".as_slice(), bytes].concat()));
        let two = message.derived(b"k", |bytes| Bytes::from([b">".as_slice(), bytes].concat()));
        assert_eq!(one, two);
        assert!(!one.holds(two.bytes()));
    }

    #[test]
    fn holds_means_the_same_memory() {
        let bytes = Bytes::from(vec![1u8; 2000]);
        let message = SharedMessage::new(bytes.clone());
        assert!(message.holds(&bytes));
        assert!(!message.holds(&Bytes::from(vec![1u8; 2000])));
    }
}
