//! What a document's messages become in its room, and what the client is told about its writes.
//!
//! Sync, awareness and awareness-query messages go to the room as they are. Writes (SyncStep2,
//! Update) carry the SyncStatus acknowledgement as the room's receipt, so it is sent only once
//! the update is durable and after everything the room sent this client before; a read-only
//! client's writes are refused at once. Frames coming back from the room are addressed to the
//! document, with the one y-protocols message whose meaning differs in Hocuspocus translated.

use bytes::Bytes;
use crdt_core::{Access, ConnectionId};

use crate::close_code;
use crate::hocuspocus::codec::{self, RoomMessage};
use crate::room::CloseReason;
use crate::room::{Membership, RoomHandle};

/// Hands one message to an open document's room. Writes are acknowledged once durable; a
/// read-only client's writes are answered at once with a refusal (the room would refuse them
/// too), and its SyncStep1 is acknowledged once answered, since Quire never asks it for its
/// state: without that, the provider would count its handshake as unsynced forever.
pub async fn forward(
    membership: &Membership,
    prefix: &[u8],
    access: Access,
    kind: RoomMessage,
    frame: Bytes,
) -> Result<Option<Bytes>, CloseReason> {
    let Membership {
        room, connection, ..
    } = membership;
    let receipt = match (kind.writes(), access) {
        (true, Access::ReadOnly) => {
            let refusal = codec::addressed(prefix, &codec::sync_status(false));
            return Ok(Some(refusal));
        }
        (true, Access::ReadWrite) => Some(codec::sync_status(true)),
        (false, Access::ReadOnly) if kind == RoomMessage::SyncStep1 => {
            Some(codec::sync_status(true))
        }
        (false, _) => None,
    };
    send_to_room(room, *connection, frame, receipt).await?;
    Ok(None)
}

async fn send_to_room(
    room: &RoomHandle,
    connection: ConnectionId,
    frame: Bytes,
    receipt: Option<Bytes>,
) -> Result<(), CloseReason> {
    let sent = match receipt {
        Some(receipt) => {
            room.send_frame_with_receipt(connection, frame, receipt)
                .await
        }
        None => room.send_frame(connection, frame).await,
    };
    if sent { Ok(()) } else { Err(room_stopped()) }
}

/// Relays a stateless message to the document's other Hocuspocus clients.
pub async fn relay(membership: &Membership, frame: Bytes) -> Result<(), CloseReason> {
    if membership.room.relay(membership.connection, frame).await {
        Ok(())
    } else {
        Err(room_stopped())
    }
}

/// A room's frame, addressed to the document. y-protocols' auth message means something else in
/// Hocuspocus (its sub-type 0 asks the client for a token), so the room's only use of it, a
/// read-only client's refused write, becomes the SyncStatus refusal Hocuspocus has for that.
pub fn address_room_frame(prefix: &[u8], frame: &[u8]) -> Bytes {
    if frame.first() == Some(&codec::MESSAGE_AUTH) {
        return codec::addressed(prefix, &codec::sync_status(false));
    }
    codec::addressed(prefix, frame)
}

/// Why a socket closes when a document's room is gone.
pub fn room_stopped() -> CloseReason {
    CloseReason::new(close_code::INTERNAL_ERROR, "room stopped")
}
