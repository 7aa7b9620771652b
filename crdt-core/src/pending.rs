//! Telling what an update brought: whether a document holds something back waiting for missing
//! dependencies, and decoding untrusted update bytes without letting a decoder panic escape.
//!
//! The room judges "did this update tell the document anything new" after applying it, and an
//! update that only went pending (it waits for a dependency) still counts; comparing what is
//! pending before and after is how it sees that.

use std::panic::{AssertUnwindSafe, catch_unwind};

use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Update};

use crate::error::ProtocolError;

/// What a document holds back until missing dependencies arrive. Usually nothing, so comparing
/// it costs nothing on the common path.
#[derive(PartialEq)]
pub(crate) struct PendingState {
    update: Option<Vec<u8>>,
    deletions: Option<yrs::IdSet>,
}

impl PendingState {
    pub(crate) const NONE: PendingState = PendingState {
        update: None,
        deletions: None,
    };

    pub(crate) fn of(transaction: &impl ReadTxn) -> Self {
        let store = transaction.store();
        PendingState {
            update: store
                .pending_update()
                .map(|pending| pending.update.encode_v1()),
            deletions: store.pending_ds().cloned(),
        }
    }
}

/// Decodes a Yjs v1 update, turning a panic inside the decoder into an error: the bytes come
/// from the network and one client must not be able to take the room down.
pub(crate) fn decode_update(update: &[u8]) -> Result<Update, ProtocolError> {
    match catch_unwind(AssertUnwindSafe(|| Update::decode_v1(update))) {
        Ok(decoded) => decoded.map_err(ProtocolError::MalformedUpdate),
        Err(_) => Err(ProtocolError::UndecodableUpdate),
    }
}
