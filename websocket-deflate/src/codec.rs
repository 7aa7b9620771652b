//! Compressing and inflating one message as RFC 7692 frames it: raw deflate ending in a sync
//! flush, whose final 4 bytes (`00 00 ff ff`) are left off the wire and put back to inflate.
//!
//! Neither side keeps a context between messages (see [`crate::negotiation`]), so one compressor
//! and one decompressor per thread serve every connection, reset for each message: a deflate
//! compressor's tables are a few hundred KB and an inflate window 32 KiB, too much to keep per
//! connection or to allocate per message.
//!
//! Inflating is bounded by the caller's limit on message size: output grows as it is produced
//! and the inflation stops one byte past the limit, so a small message that expands without end
//! costs no more than an honest message of the largest allowed size.
//!
//! Resetting the shared decompressor clears its whole window. A client that ignores
//! `client_no_context_takeover` and refers back past the start of its message is not caught (the
//! window is circular, so the distance is only checked against 32 KiB); it reads zeros there,
//! never another connection's bytes, and the garbled message then fails as a Yjs message.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The four bytes a sync flush ends with, which the sender leaves off.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// How much output space each step of inflation adds at least.
const MIN_GROWTH: usize = 256;
/// deflate's level. A message is compressed once however many receive it, so the smaller output
/// wins: in W4 (1,000 joiners of the 333 KB automerge-paper document) level 6 sent 106 KB per
/// joiner against level 1's 128 KB, with the server's CPU the same within the noise.
const LEVEL: u32 = 6;

/// Why a compressed message could not be inflated.
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    /// It inflates past the size limit.
    #[error("the message inflates to more than {limit} bytes")]
    TooLarge {
        /// The limit it passed.
        limit: usize,
    },
    /// It is not valid deflate data.
    #[error("the message is not valid deflate data: {0}")]
    Invalid(#[source] flate2::DecompressError),
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Compress>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// `message` compressed as one permessage-deflate message payload; `None` in the unexpected case
/// that the compressor could not complete its flush (the message is then sent as it is).
pub fn compress(message: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = slot.get_or_insert_with(|| Compress::new(Compression::new(LEVEL), false));
        compressor.reset();
        // Room for the worst case up front: deflate never grows data by more than a few bytes
        // per 16 KiB, and a sync flush that runs out of output space does not finish on a later
        // call (miniz_oxide then writes the pending data but drops the sync marker).
        let mut output = Vec::with_capacity(message.len() + message.len() / 8 + 256);
        let status = compressor.compress_vec(message, &mut output, FlushCompress::Sync);
        let complete = status.is_ok()
            && compressor.total_in() as usize == message.len()
            && output.len() < output.capacity()
            && output.ends_with(&SYNC_TAIL);
        if !complete {
            return None;
        }
        output.truncate(output.len() - SYNC_TAIL.len());
        output.shrink_to_fit();
        Some(output)
    })
}

/// `compressed` (one message's payload) inflated, if it is valid and inflates to at most `limit`
/// bytes.
pub fn inflate(compressed: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = slot.get_or_insert_with(|| Decompress::new(false));
        decompressor.reset(false);
        let mut output = Vec::with_capacity(compressed.len().saturating_mul(2).min(limit) + 1);
        let mut fed = 0;
        for part in [compressed, &SYNC_TAIL[..]] {
            let mut consumed = 0;
            loop {
                if output.len() > limit {
                    return Err(InflateError::TooLarge { limit });
                }
                if output.len() == output.capacity() {
                    // Doubling, from a small start: most messages are tens of bytes.
                    let room = (limit + 1 - output.len()).min(MIN_GROWTH.max(output.len()));
                    output.reserve_exact(room);
                }
                let (before_in, before_out) = (decompressor.total_in(), decompressor.total_out());
                let status = decompressor
                    .decompress_vec(&part[consumed..], &mut output, FlushDecompress::Sync)
                    .map_err(InflateError::Invalid)?;
                consumed = (decompressor.total_in() - fed) as usize;
                let progressed =
                    decompressor.total_in() != before_in || decompressor.total_out() != before_out;
                if status == Status::StreamEnd {
                    // A final block (a client may end a message with one): nothing follows.
                    return finish(output, limit);
                }
                if consumed == part.len() && output.len() < output.capacity() {
                    break;
                }
                if !progressed && output.len() < output.capacity() {
                    break;
                }
            }
            fed = decompressor.total_in();
        }
        finish(output, limit)
    })
}

fn finish(mut output: Vec<u8>, limit: usize) -> Result<Vec<u8>, InflateError> {
    if output.len() > limit {
        return Err(InflateError::TooLarge { limit });
    }
    // The message is kept (queued, relayed) by its length alone: no large spare capacity.
    if output.capacity() - output.len() > output.len() / 4 + 64 {
        output.shrink_to_fit();
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text(bytes: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog; "
            .iter()
            .copied()
            .cycle()
            .take(bytes)
            .collect()
    }

    #[test]
    fn a_message_comes_back_whole_and_compressed_smaller() {
        for size in [0, 1, 100, 70_000, 1_000_000] {
            let message = text(size);
            let compressed = compress(&message).unwrap();
            if size >= 1000 {
                assert!(compressed.len() < message.len() / 2, "size {size}");
            }
            assert_eq!(inflate(&compressed, size).unwrap(), message, "size {size}");
        }
    }

    #[test]
    fn inflating_past_the_limit_stops_at_the_limit() {
        let message = vec![0u8; 10_000_000];
        let compressed = compress(&message).unwrap();
        assert!(compressed.len() < 20_000);
        assert!(matches!(
            inflate(&compressed, 1_000_000),
            Err(InflateError::TooLarge { limit: 1_000_000 })
        ));
        assert_eq!(inflate(&compressed, 10_000_000).unwrap().len(), 10_000_000);
    }

    #[test]
    fn a_message_referring_back_past_its_start_never_reads_an_earlier_message() {
        let secret = b"the previous connection's secret text, long enough to be matched".repeat(4);
        // A sender keeping its context: the second message is mostly a reference back into the
        // first, which a client agreeing to client_no_context_takeover must not send.
        let mut sender = Compress::new(Compression::default(), false);
        let mut first = Vec::with_capacity(4096);
        sender
            .compress_vec(&secret, &mut first, FlushCompress::Sync)
            .unwrap();
        let mut second = Vec::with_capacity(4096);
        sender
            .compress_vec(&secret, &mut second, FlushCompress::Sync)
            .unwrap();
        assert!(second.len() < secret.len() / 4, "the second refers back");
        first.truncate(first.len() - SYNC_TAIL.len());
        second.truncate(second.len() - SYNC_TAIL.len());
        assert_eq!(inflate(&first, 10_000).unwrap(), secret);
        match inflate(&second, 10_000) {
            Ok(garbled) => {
                assert_ne!(garbled, secret);
                assert!(
                    garbled
                        .windows(8)
                        .all(|window| !secret.windows(8).any(|s| s == window))
                );
            }
            Err(InflateError::Invalid(_)) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_small_message_is_kept_without_spare_room() {
        let message = text(3000);
        let inflated = inflate(&compress(&message).unwrap(), 1 << 20).unwrap();
        assert_eq!(inflated, message);
        assert!(inflated.capacity() <= message.len() + message.len() / 4 + 64);
    }

    #[test]
    fn garbage_is_refused_as_invalid() {
        assert!(matches!(
            inflate(&[0xff, 0xff, 0xff, 0xff, 0x00], 1000),
            Err(InflateError::Invalid(_))
        ));
    }

    #[test]
    fn a_message_ending_in_a_final_block_inflates() {
        let mut compressor = Compress::new(Compression::default(), false);
        let mut output = Vec::with_capacity(1000);
        compressor
            .compress_vec(b"hello hello hello", &mut output, FlushCompress::Finish)
            .unwrap();
        assert_eq!(inflate(&output, 100).unwrap(), b"hello hello hello");
    }

    proptest! {
        #[test]
        fn any_message_survives_the_round_trip(message in proptest::collection::vec(any::<u8>(), 0..40_000)) {
            let compressed = compress(&message).unwrap();
            prop_assert_eq!(inflate(&compressed, message.len()).unwrap(), message.clone());
            if !message.is_empty() {
                let one_short = inflate(&compressed, message.len() - 1);
                prop_assert!(matches!(one_short, Err(InflateError::TooLarge { .. })), "one byte under the size is refused");
            }
        }

        #[test]
        fn arbitrary_input_never_panics_or_passes_the_limit(input in proptest::collection::vec(any::<u8>(), 0..2_000)) {
            if let Ok(output) = inflate(&input, 5_000) {
                prop_assert!(output.len() <= 5_000);
            }
        }
    }
}
