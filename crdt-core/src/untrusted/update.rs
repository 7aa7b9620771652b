//! Walking a Yjs update (v1 or v2) the way yrs's `Update::decode` reads it, allocating nothing.
//!
//! Each read goes through the same [`Decoder`] method yrs calls, in the same order, so v2's
//! column decoders stay in step; the reads that would allocate in yrs (`Any` values, JSON
//! content) are skimmed by [`super::any`] instead. What decoding will build is counted against a
//! [`Budget`] proportional to the input: in v1 every element takes bytes, so the budget only
//! caps the few kinds yrs builds large (sub-documents); in v2 a run-length-encoded column can
//! repeat a value forever, and the budget is what stops it.

use std::collections::HashSet;
use std::sync::Arc;

use yrs::encoding::read::{Error as ReadError, Read};
use yrs::updates::decoder::{Decoder, DecoderV1, DecoderV2};

use super::shape::{ItemId, NamedParent, ParentType, ShapeBlock, UpdateShape};
use super::varint::{self, read_u32};
use super::{DecodeError, any, checked_client};

/// Most budget units (see [`Budget`]) a v2 update may spend per byte of its encoding. Yjs's
/// encoder stays far below this on real editing traces (see the tests); the margin is for
/// documents of many deleted runs, which compress best.
pub const V2_UNITS_PER_BYTE: u64 = 8;

/// Budget units an item costs (a GC range, a client, a value, a deleted range cost one): yrs
/// keeps each item in a structure about four times the size of the others, and an item takes
/// four bytes of a v1 update at least (info, an origin or parent, content).
const ITEM_UNITS: u64 = 4;

/// Budget units a sub-document costs on top of its item: yrs builds a whole `Doc` for it. Yjs
/// names every sub-document by a 36-character UUID, so a real one takes 40 bytes at least.
const SUBDOCUMENT_UNITS: u64 = 32;

/// The highest clock accepted: half of yrs's 32-bit range, far above any real document (each
/// clock tick is one character or value a client wrote), and far enough below the top that yrs's
/// clock arithmetic cannot wrap.
pub const MAX_CLOCK: u64 = 1 << 31;

const GC: u8 = 0;
const SKIP: u8 = 10;
const HAS_ORIGIN: u8 = 0b1000_0000;
const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
const HAS_PARENT_SUB: u8 = 0b0010_0000;

const CONTENT_DELETED: u8 = 1;
const CONTENT_JSON: u8 = 2;
const CONTENT_BINARY: u8 = 3;
const CONTENT_STRING: u8 = 4;
const CONTENT_EMBED: u8 = 5;
const CONTENT_FORMAT: u8 = 6;
const CONTENT_TYPE: u8 = 7;
const CONTENT_ANY: u8 = 8;
const CONTENT_DOC: u8 = 9;

const TYPE_XML_ELEMENT: u8 = 3;
/// Type kinds yrs decodes without its `weak` feature (which Quire does not enable): array, map,
/// text, XML element, fragment, hook and text, sub-document, undefined.
const KNOWN_TYPE_REFS: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 9, 15];

/// Counts what decoding will build against a limit, in units of about 50 bytes of yrs's memory:
/// one unit per byte of a v1 update, [`V2_UNITS_PER_BYTE`] per byte of a v2 one.
pub(super) struct Budget {
    left: u64,
    limit: u64,
    bytes: usize,
}

impl Budget {
    pub(super) fn take(&mut self, elements: u64) -> Result<(), DecodeError> {
        match self.left.checked_sub(elements) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(DecodeError::ExpandsTooFar {
                bytes: self.bytes,
                limit: self.limit,
            }),
        }
    }
}

/// The reads whose v1 and v2 forms differ in what can be checked before yrs builds a value.
pub(super) trait Source: Decoder {
    /// Whether this is the v2 encoding (budget, and JSON carried as `Any`).
    const V2: bool;
    /// Reads a client id, refusing one over 53 bits.
    fn walk_client(&mut self) -> Result<u64, DecodeError>;
    /// Reads an item's left (or right) origin: its client and clock.
    fn walk_id(&mut self, right: bool) -> Result<(u64, u32), DecodeError>;
    /// Reads a string (a root type's name, a key, string content, v1's JSON): v1 keeps it
    /// inline, v2 in its string column.
    fn walk_string(&mut self) -> Result<&str, DecodeError>;
    /// Reads a key (a format's name, an XML element's tag): v1 keeps it inline, v2 in its
    /// key table or string column.
    fn walk_key(&mut self) -> Result<(), DecodeError>;
    /// Reads a length (of a GC range or of content).
    fn walk_len(&mut self) -> Result<u32, DecodeError>;
    /// Reads whether an item's parent is named (a root type) rather than an item.
    fn walk_parent_info(&mut self) -> Result<bool, DecodeError>;
    /// Reads one deleted range of a client whose previous range ended at `end` (which it moves
    /// on), refusing one that starts before it or would overflow yrs's u32 clock arithmetic (a
    /// panic in a debug build).
    fn walk_deleted_range(&mut self, end: &mut u32) -> Result<(u32, u32), DecodeError>;
}

fn overflow() -> DecodeError {
    DecodeError::Read(ReadError::UnexpectedValue)
}

impl Source for DecoderV1<'_> {
    const V2: bool = false;

    fn walk_client(&mut self) -> Result<u64, DecodeError> {
        // Read as the varint it is: yrs's `read_client` asserts 53 bits in debug builds.
        checked_client(varint::read_unsigned(self, 53)?)
    }

    fn walk_string(&mut self) -> Result<&str, DecodeError> {
        varint::read_text(self)
    }

    fn walk_key(&mut self) -> Result<(), DecodeError> {
        varint::read_text(self).map(|_| ())
    }

    fn walk_id(&mut self, _right: bool) -> Result<(u64, u32), DecodeError> {
        let client = self.walk_client()?;
        Ok((client, read_u32(self)?))
    }

    fn walk_len(&mut self) -> Result<u32, DecodeError> {
        read_u32(self)
    }

    fn walk_parent_info(&mut self) -> Result<bool, DecodeError> {
        // Compared as the u32 yrs reads, but refused past it: yrs would take 2^32 + 1 for 1.
        Ok(read_u32(self)? == 1)
    }

    fn walk_deleted_range(&mut self, end: &mut u32) -> Result<(u32, u32), DecodeError> {
        let start = read_u32(self)?;
        let length = read_u32(self)?;
        if length == 0 {
            // Yjs clients refuse an empty deleted range ("Unexpected case").
            return Err(inconsistent("a deleted range is empty"));
        }
        if start < *end {
            // Yjs and yrs write each client's ranges sorted and merged. yrs deletes a clock
            // that two ranges of one update cover twice, and its length bookkeeping of the
            // type underflows (a panic in a debug build, a wrong length in a release one).
            return Err(inconsistent("deleted ranges overlap or are out of order"));
        }
        *end = start.checked_add(length).ok_or_else(overflow)?;
        within_clock_range(u64::from(*end))?;
        Ok((start, *end))
    }
}

impl Source for DecoderV2<'_> {
    const V2: bool = true;

    fn walk_client(&mut self) -> Result<u64, DecodeError> {
        // The column decoder builds the id itself; an id over 53 bits trips yrs's debug
        // assertion there, which the caller catches.
        checked_client(self.read_client()?.get())
    }

    fn walk_string(&mut self) -> Result<&str, DecodeError> {
        Ok(self.read_string()?)
    }

    fn walk_key(&mut self) -> Result<(), DecodeError> {
        self.read_key()?;
        Ok(())
    }

    fn walk_id(&mut self, right: bool) -> Result<(u64, u32), DecodeError> {
        let id = if right {
            self.read_right_id()?
        } else {
            self.read_left_id()?
        };
        Ok((checked_client(id.client.get())?, id.clock))
    }

    fn walk_len(&mut self) -> Result<u32, DecodeError> {
        Ok(self.read_len()?)
    }

    fn walk_parent_info(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_parent_info()?)
    }

    fn walk_deleted_range(&mut self, end: &mut u32) -> Result<(u32, u32), DecodeError> {
        // v2 stores each range's start as the gap after the previous range's end, and its
        // length minus one; yrs's decoder keeps the running end. Read the same varints here
        // with checked arithmetic, in place of the decoder's own unchecked adds.
        let gap = read_u32(self)?;
        let start = end.checked_add(gap).ok_or_else(overflow)?;
        let length = read_u32(self)?.checked_add(1).ok_or_else(overflow)?;
        *end = start.checked_add(length).ok_or_else(overflow)?;
        within_clock_range(u64::from(*end))?;
        Ok((start, *end))
    }
}

/// Checks a v1 update.
pub(super) fn check_v1(bytes: &[u8]) -> Result<UpdateShape, DecodeError> {
    check(&mut super::decoder_v1(bytes), bytes.len())
}

/// Walks one update of `bytes` bytes from `decoder`; what it covers and refers to.
pub(super) fn check<D: Source>(decoder: &mut D, bytes: usize) -> Result<UpdateShape, DecodeError> {
    let per_byte = if D::V2 { V2_UNITS_PER_BYTE } else { 1 };
    let limit = (bytes as u64).saturating_mul(per_byte);
    let mut budget = Budget {
        left: limit,
        limit,
        bytes,
    };
    let mut shape = UpdateShape::default();
    check_blocks(decoder, &mut budget, &mut shape)?;
    check_delete_set(decoder, &mut budget, &mut shape)?;
    Ok(shape)
}

fn check_blocks<D: Source>(
    decoder: &mut D,
    budget: &mut Budget,
    shape: &mut UpdateShape,
) -> Result<(), DecodeError> {
    let clients = read_u32(decoder)?;
    // Each client once: yrs appends a client listed twice to its first list, clocks overlapping,
    // and then loses its way in its block store (panics, a segfault, endless loops).
    let mut seen = HashSet::new();
    for _ in 0..clients {
        budget.take(1)?;
        let blocks = read_u32(decoder)?;
        let client = decoder.walk_client()?;
        if !seen.insert(client) {
            return Err(inconsistent("a client is listed twice"));
        }
        let mut clock = u64::from(read_u32(decoder)?);
        for _ in 0..blocks {
            within_clock_range(clock)?;
            let (length, block) = check_block(decoder, budget, client, clock)?;
            if let Some(block) = block {
                shape.add_block(block);
            }
            clock += length;
            within_clock_range(clock)?;
        }
    }
    Ok(())
}

/// Refuses clocks past [`MAX_CLOCK`]: yrs keeps clocks in 32 bits, and its arithmetic near the
/// top of that range wraps (in release builds) or panics (in debug ones).
fn within_clock_range(clock: u64) -> Result<(), DecodeError> {
    if clock > MAX_CLOCK {
        return Err(inconsistent("a clock is out of range"));
    }
    Ok(())
}

fn inconsistent(what: &'static str) -> DecodeError {
    DecodeError::Inconsistent(what)
}

/// Walks one block of `client` starting at `clock`; its length in clock ticks, and the block
/// (`None` for a skip, a gap the update does not cover).
fn check_block<D: Source>(
    decoder: &mut D,
    budget: &mut Budget,
    client: u64,
    clock: u64,
) -> Result<(u64, Option<ShapeBlock>), DecodeError> {
    let info = decoder.read_info()?;
    let block = |length: u64| ShapeBlock {
        client,
        // Both within `MAX_CLOCK` (the caller checks), so they fit.
        start: clock as u32,
        end: (clock + length) as u32,
        origin: None,
        right_origin: None,
        parent: None,
    };
    match info {
        SKIP => {
            budget.take(1)?;
            Ok((non_empty(read_u32(decoder)?)?, None))
        }
        GC => {
            budget.take(1)?;
            let length = non_empty(decoder.walk_len()?)?;
            Ok((length, Some(block(length))))
        }
        _ => {
            budget.take(ITEM_UNITS)?;
            // What an item points at (its neighbours when it was inserted, its parent type)
            // existed before it: of its own client, only at an earlier clock. yrs assumes so;
            // an item that names itself sends it round in circles.
            let earlier = |(id_client, id_clock): (u64, u32)| {
                within_clock_range(u64::from(id_clock))?;
                if id_client == client && u64::from(id_clock) >= clock {
                    return Err(inconsistent("an item refers to itself or to a later item"));
                }
                Ok(ItemId::new(id_client, id_clock))
            };
            let copies_parent = info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) != 0;
            let origin = match info & HAS_ORIGIN {
                0 => None,
                _ => Some(earlier(decoder.walk_id(false)?)?),
            };
            let right_origin = match info & HAS_RIGHT_ORIGIN {
                0 => None,
                _ => Some(earlier(decoder.walk_id(true)?)?),
            };
            let mut parent = None;
            if !copies_parent {
                let of = if decoder.walk_parent_info()? {
                    ParentType::Root(Arc::from(decoder.walk_string()?))
                } else {
                    ParentType::Nested(earlier(decoder.walk_id(false)?)?)
                };
                let key = match info & HAS_PARENT_SUB {
                    0 => None,
                    _ => Some(Arc::from(decoder.walk_string()?)),
                };
                parent = Some(Box::new(NamedParent { of, key }));
            }
            let length = check_content(decoder, info, budget)?;
            if length == 0 {
                // Yjs never writes an empty item; yrs divides by item lengths.
                return Err(inconsistent("an item is empty"));
            }
            let item = ShapeBlock {
                origin,
                right_origin,
                parent,
                ..block(length)
            };
            Ok((length, Some(item)))
        }
    }
}

fn non_empty(length: u32) -> Result<u64, DecodeError> {
    if length == 0 {
        return Err(DecodeError::Read(ReadError::UnexpectedValue));
    }
    Ok(u64::from(length))
}

/// Walks an item's content (as yrs's `ItemContent::decode`); its length in clock ticks.
fn check_content<D: Source>(
    decoder: &mut D,
    info: u8,
    budget: &mut Budget,
) -> Result<u64, DecodeError> {
    // Yjs reads the content kind from the low five bits (`info & BITS5`), yrs from the low
    // four: a kind of 16 or more would be content to yrs and an exception in every client.
    match info & 0b1_1111 {
        CONTENT_DELETED => Ok(u64::from(decoder.walk_len()?)),
        // Yjs stopped writing JSON content long ago (it writes `Any` content instead), and
        // yrs cannot re-encode what it decodes of it: it reads one string more than it writes,
        // so a document holding some could not be stored and loaded back.
        CONTENT_JSON => Err(inconsistent("legacy JSON content")),
        CONTENT_BINARY => {
            varint::read_bytes(decoder)?;
            Ok(1)
        }
        CONTENT_STRING => {
            // yrs measures string content in UTF-16 code units.
            Ok(super::utf16::utf16_length(decoder.walk_string()?))
        }
        CONTENT_EMBED => {
            check_json(decoder, budget)?;
            Ok(1)
        }
        CONTENT_FORMAT => {
            decoder.walk_key()?;
            check_json(decoder, budget)?;
            Ok(1)
        }
        CONTENT_TYPE => {
            let kind = decoder.read_type_ref()?;
            if !KNOWN_TYPE_REFS.contains(&kind) {
                return Err(DecodeError::UnknownTypeRef(kind));
            }
            if kind == TYPE_XML_ELEMENT {
                decoder.walk_key()?;
            }
            Ok(1)
        }
        CONTENT_ANY => {
            let count = decoder.walk_len()?;
            for _ in 0..count {
                any::check(decoder, budget, 0)?;
            }
            Ok(u64::from(count))
        }
        CONTENT_DOC => {
            // A sub-document's guid, then its options as one `Any`.
            budget.take(SUBDOCUMENT_UNITS)?;
            decoder.walk_string()?;
            any::check(decoder, budget, 0)?;
            Ok(1)
        }
        other => Err(DecodeError::UnknownContent(other)),
    }
}

/// v1 carries JSON as a string (parsed by serde_json, whose nesting is bounded); v2 as an `Any`.
fn check_json<D: Source>(decoder: &mut D, budget: &mut Budget) -> Result<(), DecodeError> {
    if D::V2 {
        any::check(decoder, budget, 0)
    } else {
        decoder.walk_string()?;
        Ok(())
    }
}

/// Walks the delete set (yrs's `IdSet::decode`).
fn check_delete_set<D: Source>(
    decoder: &mut D,
    budget: &mut Budget,
    shape: &mut UpdateShape,
) -> Result<(), DecodeError> {
    let clients = read_u32(decoder)?;
    // Each client once, for the same reason as its ranges in order (`walk_deleted_range`).
    let mut seen = HashSet::new();
    for _ in 0..clients {
        budget.take(1)?;
        let client = checked_client(varint::read_unsigned(decoder, 53)?)?;
        if !seen.insert(client) {
            return Err(inconsistent("a client's deletions are listed twice"));
        }
        let ranges = read_u32(decoder)?;
        let mut end = 0;
        for _ in 0..ranges {
            budget.take(1)?;
            let (start, range_end) = decoder.walk_deleted_range(&mut end)?;
            shape.add_deletion(client, u64::from(start), u64::from(range_end));
        }
    }
    Ok(())
}
