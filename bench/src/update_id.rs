//! Which writer update a received Update v1 is, read from its first bytes.
//!
//! Hot-room readers receive millions of updates a second and must tell which sequence number each
//! one is, to time it and to notice a lost one. Decoding it with yrs (`Update::decode_v1`) builds
//! the whole block list and costs more than everything else a reader does; but an Update v1 opens
//! with plain lib0 varints: the number of clients with structs, then for the first client its
//! number of structs, its id and the clock of its first struct. A benchmark writer inserts one
//! character per update, so that clock is the update's sequence number. [`clock_range`] is the
//! full decode, for the rare frame that is not one of the writer's updates as sent (a server
//! that merged several).

use yrs::Update;
use yrs::encoding::read::{Cursor, Read};
use yrs::updates::decoder::Decode;

/// The first struct of an update: whose it is and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstStruct {
    /// Client that created the struct.
    pub client: u64,
    /// Clock of the struct's first element.
    pub clock: u64,
    /// Whether this struct is the only one in the update (one client, one struct).
    pub alone: bool,
}

/// Reads the first struct's id of an Update v1; `None` for an update without structs (a pure
/// deletion) or bytes that are not an update.
pub fn first_struct(update: &[u8]) -> Option<FirstStruct> {
    let mut cursor = Cursor::new(update);
    let clients: u64 = cursor.read_var().ok()?;
    if clients == 0 {
        return None;
    }
    let structs: u64 = cursor.read_var().ok()?;
    let client: u64 = cursor.read_var().ok()?;
    let clock: u64 = cursor.read_var().ok()?;
    Some(FirstStruct {
        client,
        clock,
        alone: clients == 1 && structs == 1,
    })
}

/// The clocks of `client`'s elements an update carries, `start..end`, by decoding it fully.
pub fn clock_range(update: &[u8], client: u64) -> Option<std::ops::Range<u64>> {
    let decoded = Update::decode_v1(update).ok()?;
    let insertions = decoded.insertions(true);
    let (_, ranges) = insertions.iter().find(|(id, _)| id.get() == client)?;
    let start = ranges.iter().map(|range| range.start).min()?;
    let end = ranges.iter().map(|range| range.end).max()?;
    Some(u64::from(start)..u64::from(end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, Text, Transact};

    #[test]
    fn reads_the_clock_of_each_single_character_insert() {
        let doc = Doc::with_client_id(4242);
        let text = doc.get_or_insert_text("text");
        for expected in 0..300u64 {
            let mut txn = doc.transact_mut();
            text.push(&mut txn, "x");
            let update = txn.encode_update_v1();
            let first = first_struct(&update).expect("an insert has a struct");
            assert_eq!(
                first,
                FirstStruct {
                    client: 4242,
                    clock: expected,
                    alone: true
                }
            );
            assert_eq!(clock_range(&update, 4242), Some(expected..expected + 1));
        }
    }

    #[test]
    fn a_merged_update_covers_several_clocks() {
        let doc = Doc::with_client_id(7);
        let text = doc.get_or_insert_text("text");
        let updates: Vec<Vec<u8>> = (0..3)
            .map(|_| {
                let mut txn = doc.transact_mut();
                text.push(&mut txn, "y");
                txn.encode_update_v1()
            })
            .collect();
        let merged = yrs::merge_updates_v1(&updates).expect("valid updates");
        assert_eq!(clock_range(&merged, 7), Some(0..3));
        assert_eq!(first_struct(&merged).map(|first| first.clock), Some(0));
    }
}
