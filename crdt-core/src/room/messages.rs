//! How a room answers each y-protocols message: the sync steps, updates (each applied in its own
//! transaction, judged new or not after applying), awareness, and the queueing of what must be
//! stored and sent. Split from [`super`] so the room's public surface and its message handling
//! each read on their own.

use bytes::Bytes;
use yrs::sync::{Message, SyncMessage};
use yrs::{ReadTxn, Transact};

use super::{Access, ConnectionId, Outgoing, READ_ONLY_REASON, Room};
use crate::error::ProtocolError;
use crate::pending::{PendingState, decode_update};
use crate::wire::{encode_frame, encode_update_frame};

impl Room {
    pub(super) fn handle_message(
        &mut self,
        connection: ConnectionId,
        access: Access,
        message: Message,
    ) -> Result<(), ProtocolError> {
        match message {
            Message::Sync(SyncMessage::SyncStep1(remote_state))
                if remote_state.is_empty() && self.deferred.is_pending() =>
            {
                // The stored snapshot answers; the room's SyncStep1 needs its state vector, which
                // waits until the server is idle, after this answer has gone out.
                let frame = self.full_state_frame();
                self.outgoing.push_back(Outgoing::Reply {
                    to: connection,
                    frame,
                });
                if access == Access::ReadWrite {
                    self.deferred.owe_sync_step1(connection);
                }
            }
            Message::Sync(SyncMessage::SyncStep1(remote_state)) => {
                if remote_state.is_empty() {
                    let frame = self.full_state_frame();
                    self.outgoing.push_back(Outgoing::Reply {
                        to: connection,
                        frame,
                    });
                } else {
                    let diff = self.doc().transact().encode_diff_v1(&remote_state);
                    self.reply(connection, &Message::Sync(SyncMessage::SyncStep2(diff)));
                }
                // A read-only client's answer to our step 1 would only be refused.
                if access == Access::ReadWrite {
                    let state = self.state_vector();
                    self.reply(connection, &Message::Sync(SyncMessage::SyncStep1(state)));
                }
            }
            Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update))
                if access == Access::ReadOnly =>
            {
                if !decode_update(&update)?.is_empty() {
                    let refusal = Message::Auth(Some(READ_ONLY_REASON.to_owned()));
                    self.reply(connection, &refusal);
                }
            }
            Message::Sync(SyncMessage::Update(update)) => {
                // An Update is one client transaction: already minimal, forwarded as received.
                if self.apply_update(&update)? {
                    self.queue_document_update(Some(connection), update);
                }
            }
            Message::Sync(SyncMessage::SyncStep2(update)) => {
                // A SyncStep2 carries its sender's whole delete set; a one-character offline
                // edit would otherwise cost every reconnect the size of that set, stored and
                // broadcast. What this room's transaction applied is all anyone else needs.
                if let Some(applied) = self.apply_sync_step2(&update)? {
                    self.queue_document_update(Some(connection), applied);
                }
            }
            Message::Awareness(update) => {
                let frame = encode_frame(&Message::Awareness(update.clone()));
                let applied = self.presence.apply(connection, &mut self.awareness, update);
                if let Some(removed) = applied.stale {
                    // The client announced a state the room removed at a later clock (it
                    // reconnected, or it expired). Telling it so makes a y-protocols client bump
                    // its clock and announce again, so it reappears now rather than at its next
                    // 15 s renewal.
                    self.reply(connection, &Message::Awareness(removed));
                }
                if applied.changed {
                    // Echoed to the sender too, as y-websocket's server does: a client alone in a
                    // room otherwise hears nothing and reconnects after its 30 s silence timeout.
                    self.outgoing.push_back(Outgoing::Broadcast {
                        except: None,
                        frame,
                    });
                }
            }
            Message::AwarenessQuery => {
                let states = self.presence.all_states(&self.awareness);
                self.reply(connection, &Message::Awareness(states));
            }
            // Clients do not authenticate over y-protocols' auth message with Quire (tokens travel
            // with the upgrade request); a client-side permission notice needs no answer.
            Message::Auth(_) => {}
            // Unknown message types are ignored, as y-websocket's server does, so protocol
            // extensions of newer clients do not break the connection.
            Message::Custom(_, _) => {}
        }
        Ok(())
    }

    /// Applies a v1 update in its own transaction; false when it told the document nothing new.
    ///
    /// "Nothing new" must be judged after applying: a SyncStep2 carries its sender's whole
    /// delete set every time, and storing or forwarding that on each reconnect would grow the log
    /// for nothing. An update that cannot be integrated yet (it waits for a missing dependency)
    /// still counts as new: other clients need it as much as the room does.
    pub(super) fn apply_update(&mut self, update: &[u8]) -> Result<bool, ProtocolError> {
        Ok(self.apply_and_encode(update, false)?.is_some())
    }

    /// Applies a SyncStep2's update; what to store and forward of it, if anything.
    pub(super) fn apply_sync_step2(
        &mut self,
        update: &[u8],
    ) -> Result<Option<Vec<u8>>, ProtocolError> {
        match self.apply_and_encode(update, true)? {
            Some(Some(applied)) => Ok(Some(applied)),
            Some(None) => Ok(Some(update.to_vec())),
            None => Ok(None),
        }
    }

    /// Applies `update` in its own transaction. `None` when it told the document nothing new;
    /// otherwise, when `encode_applied` is set and nothing went pending, the update of exactly
    /// what the transaction applied (when something waits for a dependency, only the whole
    /// update carries it to the others).
    pub(super) fn apply_and_encode(
        &mut self,
        update: &[u8],
        encode_applied: bool,
    ) -> Result<Option<Option<Vec<u8>>>, ProtocolError> {
        let update = decode_update(update)?;
        if update.is_empty() || self.deferred.holds_all_of(&update) {
            return Ok(None);
        }
        let mut transaction = self.doc().transact_mut();
        let pending_before = PendingState::of(&transaction);
        transaction
            .apply_update(update)
            .map_err(ProtocolError::UpdateRejected)?;
        let pending_changed = PendingState::of(&transaction) != pending_before;
        if !transaction.has_changes() && !pending_changed {
            return Ok(None);
        }
        let applied = (encode_applied && !pending_changed).then(|| transaction.encode_update_v1());
        Ok(Some(applied))
    }

    pub(super) fn queue_document_update(&mut self, from: Option<ConnectionId>, update: Vec<u8>) {
        let frame = encode_update_frame(&update);
        self.outgoing.push_back(Outgoing::Persist {
            update: Bytes::from(update),
        });
        self.outgoing.push_back(Outgoing::Broadcast {
            except: from,
            frame,
        });
    }

    pub(super) fn reply(&mut self, to: ConnectionId, message: &Message) {
        self.outgoing.push_back(Outgoing::Reply {
            to,
            frame: encode_frame(message),
        });
    }

    pub(super) fn broadcast(&mut self, except: Option<ConnectionId>, message: &Message) {
        if self.access.is_empty() {
            return;
        }
        self.outgoing.push_back(Outgoing::Broadcast {
            except,
            frame: encode_frame(message),
        });
    }
}
