//! Telling what an update brought: whether a document holds something back waiting for missing
//! dependencies, and decoding untrusted update bytes without letting a decoder panic escape.
//!
//! The room judges "did this update tell the document anything new" after applying it, and an
//! update that only went pending (it waits for a dependency) still counts; comparing what is
//! pending before and after is how it sees that.

use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Update};

use crate::error::ProtocolError;
use crate::untrusted::{DecodeError, UpdateShape, decode_update_v1_with_shape};

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

/// Decodes a Yjs v1 update from a client or the store: walked first, so no count in it is
/// trusted, and a panic inside yrs's decoder becomes an error, so one client cannot take the room
/// down (see [`crate::untrusted`]).
pub(crate) fn decode_update(update: &[u8]) -> Result<Update, ProtocolError> {
    decode_update_with_shape(update).map(|(update, _)| update)
}

/// [`decode_update`], with what the update covers and refers to.
pub(crate) fn decode_update_with_shape(
    update: &[u8],
) -> Result<(Update, UpdateShape), ProtocolError> {
    match decode_update_v1_with_shape(update) {
        Ok(decoded) => Ok(decoded),
        Err(DecodeError::Read(error)) => Err(ProtocolError::MalformedUpdate(error)),
        Err(DecodeError::DecoderPanicked) => Err(ProtocolError::UndecodableUpdate),
        Err(error) => Err(ProtocolError::Invalid(error)),
    }
}
