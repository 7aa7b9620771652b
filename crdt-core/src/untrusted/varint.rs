//! Reading lib0 varints the way Yjs clients read them: whole, or not at all.
//!
//! yrs reads varints with wrapping shifts (for Yjs compatibility, it says): ten or eleven bytes
//! of continuation fold back into a small number, so `80 80 80 80 80 80 80 80 80 68` is 0 to
//! yrs. lib0 in JavaScript reads the same bytes as a number past 2^53 and throws, or, for an
//! origin, waits forever for an item that will never come. Bytes the server relays as they came
//! would then mean one thing to the server and another to every client, and the documents part
//! ways: the server integrates an edit no client ever shows. So every varint of an untrusted
//! encoding is read here, refusing a value past the width its field has in Yjs, before yrs reads
//! it its own way. Within those widths the two readers agree byte for byte.

use yrs::encoding::read::Read;

use super::DecodeError;

/// The most bytes any accepted varint takes: 7 bits each, 64 bits at most. Zero padding beyond
/// this is refused too, since yrs gives up on it where Yjs does not.
const MAX_VARINT_BYTES: u32 = 10;

/// Reads an unsigned varint whose value fits in `bits` bits.
pub(super) fn read_unsigned<R: Read>(reader: &mut R, bits: u32) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    for index in 0..MAX_VARINT_BYTES {
        let byte = reader.read_u8()?;
        let shift = index * 7;
        let part = u64::from(byte & 0x7f);
        // The bits this byte adds must land within `bits`: none may be shifted away or wrapped.
        if part != 0 && (shift >= bits || part >> (bits - shift) != 0) {
            return Err(too_wide(bits));
        }
        value |= part << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(too_wide(bits))
}

/// Reads a signed lib0 varint (sign in the first byte's second-highest bit) whose magnitude
/// fits the 53 bits of a JavaScript safe integer, as Yjs writes integers in `Any` values.
pub(super) fn read_signed<R: Read>(reader: &mut R) -> Result<i64, DecodeError> {
    const BITS: u32 = 53;
    let first = reader.read_u8()?;
    let negative = first & 0x40 != 0;
    let mut magnitude = u64::from(first & 0x3f);
    let mut more = first & 0x80 != 0;
    let mut shift = 6;
    while more {
        if shift >= 6 + 7 * (MAX_VARINT_BYTES - 1) {
            return Err(too_wide(BITS));
        }
        let byte = reader.read_u8()?;
        let part = u64::from(byte & 0x7f);
        if part != 0 && (shift >= BITS || part >> (BITS - shift) != 0) {
            return Err(too_wide(BITS));
        }
        magnitude |= part << shift;
        more = byte & 0x80 != 0;
        shift += 7;
    }
    // At most 53 bits, so the conversion cannot fail.
    let magnitude = i64::try_from(magnitude).map_err(|_| too_wide(BITS))?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Reads a varint that must fit 32 bits: counts, clocks and lengths, which Yjs keeps in 32.
pub(super) fn read_u32<R: Read>(reader: &mut R) -> Result<u32, DecodeError> {
    let value = read_unsigned(reader, 32)?;
    u32::try_from(value).map_err(|_| too_wide(32))
}

/// Reads a length-prefixed byte string, its length read whole.
pub(super) fn read_bytes<R: Read>(reader: &mut R) -> Result<&[u8], DecodeError> {
    let length = read_u32(reader)?;
    Ok(reader.read_exact(length as usize)?)
}

/// Reads a length-prefixed UTF-8 string, its length read whole.
pub(super) fn read_text<R: Read>(reader: &mut R) -> Result<&str, DecodeError> {
    std::str::from_utf8(read_bytes(reader)?)
        .map_err(|_| DecodeError::Inconsistent("a string is not UTF-8"))
}

fn too_wide(bits: u32) -> DecodeError {
    DecodeError::NumberTooWide { bits }
}

#[cfg(test)]
mod tests {
    use yrs::encoding::read::Cursor;
    use yrs::encoding::write::Write;

    use super::*;

    fn unsigned(bytes: &[u8], bits: u32) -> Result<u64, DecodeError> {
        read_unsigned(&mut Cursor::new(bytes), bits)
    }

    fn signed(bytes: &[u8]) -> Result<i64, DecodeError> {
        read_signed(&mut Cursor::new(bytes))
    }

    #[test]
    fn reads_what_yrs_writes_alike() {
        for value in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), (1 << 53) - 1] {
            let mut bytes = Vec::new();
            bytes.write_var(value);
            assert_eq!(unsigned(&bytes, 53).unwrap(), value);
            let mut cursor = Cursor::new(&bytes);
            assert_eq!(cursor.read_var::<u64>().unwrap(), value, "yrs agrees");
        }
        for value in [0i64, 1, -1, 63, -64, 1 << 40, -(1 << 52), (1 << 53) - 1] {
            let mut bytes = Vec::new();
            bytes.write_var(value);
            assert_eq!(signed(&bytes).unwrap(), value);
            let mut cursor = Cursor::new(&bytes);
            assert_eq!(cursor.read_var::<i64>().unwrap(), value, "yrs agrees");
        }
    }

    #[test]
    fn refuses_what_yrs_would_wrap() {
        // The fuzz found this delete-set clock: 0 to yrs, past 2^53 to Yjs.
        let wrapped = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x68];
        assert_eq!(Cursor::new(&wrapped).read_var::<u64>().unwrap(), 0);
        assert!(unsigned(&wrapped, 53).is_err());
        assert!(unsigned(&wrapped, 32).is_err());
        // One past the width, at the edge of a byte and inside one.
        assert!(unsigned(&[0x80, 0x80, 0x80, 0x80, 0x10], 32).is_err());
        assert_eq!(
            unsigned(&[0xff, 0xff, 0xff, 0xff, 0x0f], 32).unwrap(),
            u64::from(u32::MAX)
        );
        let mut past = Vec::new();
        past.write_var(1u64 << 53);
        assert!(unsigned(&past, 53).is_err());
        // Padding Yjs reads as 0 but yrs gives up on.
        assert!(unsigned(&[0x80; 11], 53).is_err());
        let mut wide = Vec::new();
        wide.write_var(1i64 << 53);
        assert!(signed(&wide).is_err());
        assert!(signed(&[0xff; 11]).is_err());
    }

    #[test]
    fn accepts_zero_padding_both_readers_agree_on() {
        assert_eq!(unsigned(&[0x85, 0x80, 0x00], 32).unwrap(), 5);
        assert_eq!(
            Cursor::new(&[0x85, 0x80, 0x00]).read_var::<u32>().unwrap(),
            5
        );
    }

    #[test]
    fn strings_are_read_by_their_whole_length() {
        let mut bytes = vec![0x83, 0x80, 0x80, 0x80, 0x80, 0x01];
        bytes.extend_from_slice(b"abc");
        assert!(read_text(&mut Cursor::new(&bytes)).is_err());
        assert_eq!(
            read_text(&mut Cursor::new(&[3, b'a', b'b', b'c'])).unwrap(),
            "abc"
        );
    }
}
