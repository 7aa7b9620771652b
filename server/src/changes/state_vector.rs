//! The state vector an event carries, computed from stored bytes.
//!
//! The emitter announces documents that may not be loaded in any room (the window may end long
//! after the room closed), so it rebuilds the state from the store rather than asking a room,
//! which would load the document into memory for as long as a room lives.

use crdt_core::Room;
use yrs::updates::encoder::Encode;

/// The Yjs v1 state vector of a document made of `snapshot` and then `updates`. A record that
/// does not apply is skipped: the vector then covers what did, as a room would serve it.
pub(crate) fn state_vector_of<'a>(
    snapshot: Option<&[u8]>,
    updates: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut room = Room::new();
    if let Some(snapshot) = snapshot {
        let _ = room.handle_stored_snapshot(snapshot);
    }
    for update in updates {
        let _ = room.handle_stored_update(update);
    }
    room.state_vector().encode_v1()
}

#[cfg(test)]
mod tests {
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact};

    use super::*;

    #[test]
    fn the_vector_counts_every_client_clock_of_snapshot_and_updates() {
        let doc = Doc::with_client_id(7);
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, "hello");
        let snapshot = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let before = doc.transact().state_vector();
        text.insert(&mut doc.transact_mut(), 5, "!!");
        let update = doc.transact().encode_state_as_update_v1(&before);
        assert_eq!(text.get_string(&doc.transact()), "hello!!");

        let vector = state_vector_of(Some(&snapshot), [&update[..]]);
        let decoded = StateVector::decode_v1(&vector).unwrap();
        assert_eq!(decoded.get(&doc.client_id()), 7);
        assert_eq!(
            state_vector_of(None, []),
            StateVector::default().encode_v1()
        );
    }
}
