//! Decoding Yjs encodings that came from a peer or a disk, without trusting a length in them.
//!
//! yrs's decoders reserve memory from the counts they read: a state vector's entry count, an
//! update's client and block counts, an `Any` array's length. yrs uses `try_reserve`, which on
//! Linux (overcommit) happily maps terabytes and then touches them: the 10-byte SyncStep1
//! `00 00 07 db b9 9a ff 8a 0d 0d` claims 4.4 x 10^11 state vector entries and grew a server by
//! 500 MB/s until the kernel killed it. A few bytes of nested `Any` arrays also recurse yrs's
//! decoder off the end of a thread's stack.
//!
//! So nothing here hands bytes to a yrs decoder before walking them once without allocating:
//! every count is checked against the bytes left (each element takes at least one byte in v1),
//! every element is read through, nesting is bounded, and client ids must fit the 53 bits Yjs
//! gives them. A walk that succeeds proves every count yrs will reserve from is honest, so
//! decoding allocates a small multiple of the input (`tests/decode_allocation.rs` measures it).
//! The walk reads through yrs's own [`Decoder`] trait, in the order yrs's decoders read, so the
//! two agree on what the bytes are; only the reads that would allocate are done here instead.
//!
//! The v2 encoding run-length-encodes its columns, so a few bytes can stand for any number of
//! blocks: there the walk also counts what decoding would build and refuses more than
//! [`V2_UNITS_PER_BYTE`] units per input byte, far above what Yjs's encoder produces.
//!
//! yrs also panics on some input (debug assertions on client ids, clock arithmetic); the walk
//! refuses what it can see, and every decode here runs under `catch_unwind` for the rest.
//!
//! Awareness updates are checked here too: every state must be JSON (y-protocols clients
//! `JSON.parse` what they are relayed and throw otherwise) and within the room's size limit.

mod any;
mod shape;
mod update;
mod utf16;
mod varint;

use yrs::encoding::read::{Cursor, Error as ReadError};
use yrs::sync::AwarenessUpdate;
use yrs::updates::decoder::{Decode, DecoderV1, DecoderV2};
use yrs::{StateVector, Update};

pub use shape::{ItemId, NamedParent, ParentType, ShapeBlock, UpdateShape};
pub use update::{MAX_CLOCK, V2_UNITS_PER_BYTE};

/// Yjs client ids are 53-bit (JavaScript's safe integers); yrs asserts it in debug builds and
/// silently truncates in release ones, so larger ids are refused rather than aliased.
pub const MAX_CLIENT_ID: u64 = (1 << 53) - 1;

/// Deepest nesting of `Any` values (arrays and maps inside each other) accepted. Real documents
/// nest a handful of levels; yrs decodes them recursively.
pub const MAX_NESTING: usize = 64;

/// Why untrusted bytes were refused before yrs decoded them.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes ended early, a varint was malformed, or a string was not UTF-8.
    #[error("{0}")]
    Read(#[from] ReadError),
    /// A count claims more elements than the remaining bytes could hold.
    #[error("{what} count {count} exceeds what the remaining {remaining} bytes can hold")]
    CountExceedsInput {
        /// What was counted.
        what: &'static str,
        /// The count that was read.
        count: u64,
        /// Bytes left after it.
        remaining: usize,
    },
    /// A varint's value does not fit the width its field has in Yjs (see `varint.rs`).
    #[error("a number does not fit {bits} bits")]
    NumberTooWide {
        /// The field's width.
        bits: u32,
    },
    /// A client id does not fit in 53 bits.
    #[error("client id {0} does not fit in 53 bits")]
    ClientIdTooLarge(u64),
    /// `Any` values nest deeper than [`MAX_NESTING`].
    #[error("values nest deeper than {MAX_NESTING} levels")]
    NestingTooDeep,
    /// An update would decode into more than its size allows (see `V2_UNITS_PER_BYTE`).
    #[error("an update of {bytes} bytes expands past {limit} units")]
    ExpandsTooFar {
        /// The update's size.
        bytes: usize,
        /// The most it may decode into, in budget units.
        limit: u64,
    },
    /// The update is well-formed but not one a Yjs client makes, in a way yrs cannot apply
    /// safely (a client listed twice, an item referring to itself, an empty item, a clock out
    /// of range, legacy JSON content).
    #[error("inconsistent update: {0}")]
    Inconsistent(&'static str),
    /// yrs's decoder panicked on the input (caught).
    #[error("the decoder failed on this input")]
    DecoderPanicked,
    /// A block's content kind is not one Yjs defines.
    #[error("unknown content kind {0}")]
    UnknownContent(u8),
    /// A nested type's kind is not one this server decodes.
    #[error("unknown type kind {0}")]
    UnknownTypeRef(u8),
    /// An awareness state is not JSON.
    #[error("awareness state of client {client} is not JSON: {source}")]
    AwarenessNotJson {
        /// The awareness client whose state it is.
        client: u64,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// An awareness state is larger than the room accepts.
    #[error("awareness state of client {client} is {bytes} bytes, over the {limit}-byte limit")]
    AwarenessTooLarge {
        /// The awareness client whose state it is.
        client: u64,
        /// The state's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// Decodes a v1 state vector (as a SyncStep1 or `?since=` carries it).
pub fn decode_state_vector(bytes: &[u8]) -> Result<StateVector, DecodeError> {
    check_state_vector(bytes)?;
    guarded(|| Ok(StateVector::decode_v1(bytes)?))
}

/// Runs a walk or a yrs decode, turning a panic in it into an error.
fn guarded<T>(decode: impl FnOnce() -> Result<T, DecodeError>) -> Result<T, DecodeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode))
        .unwrap_or(Err(DecodeError::DecoderPanicked))
}

/// Checks a v1 state vector without allocating.
pub fn check_state_vector(bytes: &[u8]) -> Result<(), DecodeError> {
    let mut cursor = Cursor::new(bytes);
    // Each entry is a client id and a clock, one byte at least each.
    let entries = read_count(&mut cursor, "state vector entry", 2)?;
    for _ in 0..entries {
        read_client(&mut cursor)?;
        varint::read_u32(&mut cursor)?;
    }
    // Bytes after the last entry are ignored, as yrs and Yjs ignore them.
    Ok(())
}

/// Decodes a Yjs v1 update.
pub fn decode_update_v1(bytes: &[u8]) -> Result<Update, DecodeError> {
    decode_update_v1_with_shape(bytes).map(|(update, _)| update)
}

/// Decodes a Yjs v1 update, with what it covers and refers to (see [`UpdateShape`]).
pub fn decode_update_v1_with_shape(bytes: &[u8]) -> Result<(Update, UpdateShape), DecodeError> {
    guarded(|| {
        let shape = update::check_v1(bytes)?;
        Ok((Update::decode_v1(bytes)?, shape))
    })
}

/// What a Yjs v1 update covers, refers to and links to, without decoding it (see
/// [`UpdateShape`]).
pub fn update_v1_shape(bytes: &[u8]) -> Result<UpdateShape, DecodeError> {
    guarded(|| update::check_v1(bytes))
}

/// Decodes a Yjs v2 update.
pub fn decode_update_v2(bytes: &[u8]) -> Result<Update, DecodeError> {
    guarded(|| {
        update::check(&mut DecoderV2::new(Cursor::new(bytes))?, bytes.len())?;
        Ok(Update::decode_v2(bytes)?)
    })
}

/// Checks a y-protocols awareness update: its counts, that every state is JSON, and that none
/// is larger than `max_state_bytes`.
pub fn check_awareness_update(bytes: &[u8], max_state_bytes: usize) -> Result<(), DecodeError> {
    let mut cursor = Cursor::new(bytes);
    // A client id, a clock and a state's length, one byte at least each.
    let entries = read_count(&mut cursor, "awareness entry", 3)?;
    for _ in 0..entries {
        let client = read_client(&mut cursor)?;
        varint::read_u32(&mut cursor)?;
        let state = varint::read_text(&mut cursor)?;
        if state.len() > max_state_bytes {
            return Err(DecodeError::AwarenessTooLarge {
                client,
                bytes: state.len(),
                limit: max_state_bytes,
            });
        }
        // Parsed into nothing: validity is all that matters, and serde_json bounds nesting.
        serde_json::from_str::<serde::de::IgnoredAny>(state)
            .map_err(|source| DecodeError::AwarenessNotJson { client, source })?;
    }
    Ok(())
}

/// Decodes an awareness update after [`check_awareness_update`].
pub fn decode_awareness_update(
    bytes: &[u8],
    max_state_bytes: usize,
) -> Result<AwarenessUpdate, DecodeError> {
    check_awareness_update(bytes, max_state_bytes)?;
    guarded(|| Ok(AwarenessUpdate::decode_v1(bytes)?))
}

/// Reads a count of elements that each take at least `min_bytes` bytes, refusing one the rest of
/// the input cannot hold.
pub(crate) fn read_count(
    cursor: &mut Cursor<'_>,
    what: &'static str,
    min_bytes: usize,
) -> Result<u64, DecodeError> {
    let count = varint::read_unsigned(cursor, 53)?;
    let remaining = cursor.buf.len() - cursor.next;
    if count > (remaining / min_bytes) as u64 {
        return Err(DecodeError::CountExceedsInput {
            what,
            count,
            remaining,
        });
    }
    Ok(count)
}

fn read_client(cursor: &mut Cursor<'_>) -> Result<u64, DecodeError> {
    checked_client(varint::read_unsigned(cursor, 53)?)
}

pub(crate) fn checked_client(client: u64) -> Result<u64, DecodeError> {
    if client > MAX_CLIENT_ID {
        return Err(DecodeError::ClientIdTooLarge(client));
    }
    Ok(client)
}

/// A v1 decoder over `bytes`, for the update walk.
pub(crate) fn decoder_v1(bytes: &[u8]) -> DecoderV1<'_> {
    DecoderV1::new(Cursor::new(bytes))
}

#[cfg(test)]
mod tests;
