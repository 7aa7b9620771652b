//! Skimming one lib0 `Any` value (yrs's `Any::decode`) without building it.
//!
//! yrs decodes arrays and maps by reserving their claimed length and recursing into each
//! element, so both the count and the nesting come from the sender. Here every element is
//! counted against the update's budget and nesting stops at [`MAX_NESTING`].
//!
//! Strings are read as a length and bytes straight from the byte stream, as `Any::decode` does:
//! a v2 decoder's own `read_string` reads its string column instead, which is not where `Any`
//! values keep theirs.

use yrs::encoding::read::{Error as ReadError, Read};

use super::update::Budget;
use super::{DecodeError, MAX_NESTING, varint};

const UNDEFINED: u8 = 127;
const NULL: u8 = 126;
const INTEGER: u8 = 125;
const FLOAT32: u8 = 124;
const FLOAT64: u8 = 123;
const BIGINT: u8 = 122;
const FALSE: u8 = 121;
const TRUE: u8 = 120;
const STRING: u8 = 119;
const MAP: u8 = 118;
const ARRAY: u8 = 117;
const BUFFER: u8 = 116;

/// Skims one value nested `depth` levels deep.
pub(super) fn check<R: Read>(
    reader: &mut R,
    budget: &mut Budget,
    depth: usize,
) -> Result<(), DecodeError> {
    if depth >= MAX_NESTING {
        return Err(DecodeError::NestingTooDeep);
    }
    budget.take(1)?;
    match reader.read_u8()? {
        UNDEFINED | NULL | FALSE | TRUE => {}
        INTEGER => {
            varint::read_signed(reader)?;
        }
        FLOAT32 => {
            reader.read_exact(4)?;
        }
        FLOAT64 | BIGINT => {
            reader.read_exact(8)?;
        }
        STRING => read_str(reader)?,
        MAP => {
            let entries = varint::read_u32(reader)?;
            for _ in 0..entries {
                read_str(reader)?;
                check(reader, budget, depth + 1)?;
            }
        }
        ARRAY => {
            let elements = varint::read_u32(reader)?;
            for _ in 0..elements {
                check(reader, budget, depth + 1)?;
            }
        }
        BUFFER => {
            varint::read_bytes(reader)?;
        }
        _ => return Err(DecodeError::Read(ReadError::UnexpectedValue)),
    }
    Ok(())
}

fn read_str<R: Read>(reader: &mut R) -> Result<(), DecodeError> {
    varint::read_text(reader).map(|_| ())
}
