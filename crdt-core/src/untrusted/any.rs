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
use super::{DecodeError, MAX_NESTING};

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
            reader.read_var::<i64>()?;
        }
        FLOAT32 => {
            reader.read_exact(4)?;
        }
        FLOAT64 | BIGINT => {
            reader.read_exact(8)?;
        }
        STRING => read_str(reader)?,
        MAP => {
            let entries: usize = reader.read_var()?;
            for _ in 0..entries {
                read_str(reader)?;
                check(reader, budget, depth + 1)?;
            }
        }
        ARRAY => {
            let elements: usize = reader.read_var()?;
            for _ in 0..elements {
                check(reader, budget, depth + 1)?;
            }
        }
        BUFFER => {
            reader.read_buf()?;
        }
        _ => return Err(DecodeError::Read(ReadError::UnexpectedValue)),
    }
    Ok(())
}

fn read_str<R: Read>(reader: &mut R) -> Result<(), DecodeError> {
    let bytes = reader.read_buf()?;
    std::str::from_utf8(bytes)
        .map(|_| ())
        .map_err(|_| DecodeError::Read(ReadError::UnexpectedValue))
}
