//! How a room answers each y-protocols message: the sync steps, updates (each applied in its own
//! transaction, judged new or not after applying), awareness, and the queueing of what must be
//! stored and sent. Split from [`super`] so the room's public surface and its message handling
//! each read on their own.

use bytes::Bytes;
use yrs::block::ClientID;
use yrs::sync::{Message, SyncMessage};
use yrs::{ReadTxn, Transact, Update};

use super::{Access, ConnectionId, Outgoing, READ_ONLY_REASON, Room};
use crate::error::ProtocolError;
use crate::pending::{PendingState, decode_update, decode_update_with_shape};
use crate::presence::Controller;
use crate::untrusted::UpdateShape;
use crate::wire::{encode_frame, encode_update_frame};

/// Where an update comes from, and so whether to check what it builds on first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arrival {
    /// From a peer, not checked yet: refused if the room lacks what it builds on.
    Peer,
    /// From a peer, checked already (see `receive_update`).
    CheckedPeer,
    /// From the store, which may hold what waits for a dependency (written before peers were
    /// held to that): applied as it is.
    Store,
    /// From a peer server, which stored it (see `peers`): checked and indexed like a peer's, but
    /// what a refusal leaves applied is the peer server's to have sent, not this room's to store.
    Server,
}

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
                self.receive_update(connection, update, false)?;
            }
            Message::Sync(SyncMessage::SyncStep2(update)) => {
                self.receive_update(connection, update, true)?;
            }
            Message::Awareness(update) => {
                let frame = encode_frame(&Message::Awareness(update.clone()));
                let applied = self.presence.apply(
                    Controller::Connection(connection),
                    &mut self.awareness,
                    update,
                );
                if let Some(removed) = applied.stale {
                    // The client announced a state the room removed at a later clock (it
                    // reconnected, or it expired). Telling it so makes a y-protocols client bump
                    // its clock and announce again, so it reappears now rather than at its next
                    // 15 s renewal.
                    self.reply(connection, &Message::Awareness(removed));
                }
                if applied.changed {
                    self.announce_to_peers(frame.clone());
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

    /// An Update or SyncStep2 from `connection`: applied if the room has what it builds on,
    /// held in `waiting` otherwise; then whatever waited and can now be applied is.
    fn receive_update(
        &mut self,
        connection: ConnectionId,
        update: Vec<u8>,
        sync_step2: bool,
    ) -> Result<(), ProtocolError> {
        let (decoded, shape) = decode_update_with_shape(&update)?;
        if decoded.is_empty() || self.deferred.holds_all_of(&decoded) {
            return Ok(());
        }
        if !shape.is_satisfied_by(&self.state_vector()) {
            return self.waiting.hold(connection, sync_step2, update, shape);
        }
        self.apply_from_peer(connection, update, Some((decoded, shape)), sync_step2)?;
        while !self.waiting.is_empty()
            && let Some(ready) = self.waiting.take_ready(&self.state_vector())
        {
            // What waited came from another turn, maybe another connection: a refusal now is
            // that update's, and the room goes on without it.
            let _ = self.apply_from_peer(ready.from, ready.bytes, None, ready.sync_step2);
        }
        Ok(())
    }

    /// Applies an update a peer sent, and queues it to be stored and sent to the others.
    /// `decoded` is the update already decoded, when the caller had to (decoding a large update
    /// twice showed in the profile of 1 MB updates: yrs measures every string as it decodes).
    fn apply_from_peer(
        &mut self,
        from: ConnectionId,
        update: Vec<u8>,
        decoded: Option<(Update, UpdateShape)>,
        sync_step2: bool,
    ) -> Result<(), ProtocolError> {
        // A SyncStep2 carries its sender's whole delete set; a one-character offline edit would
        // otherwise cost every reconnect the size of that set, stored and broadcast. What this
        // room's transaction applied is all anyone else needs. An Update is one client
        // transaction, already minimal, and is forwarded as received, unless it repeats clocks
        // the room had (`apply_and_encode` then encodes what was new).
        let decoded = match decoded {
            Some(decoded) => decoded,
            None => decode_update_with_shape(&update)?,
        };
        let applied = match self.apply_decoded(decoded, sync_step2, Arrival::CheckedPeer)? {
            Some(Some(applied)) => applied,
            Some(None) => update,
            None => return Ok(()),
        };
        self.queue_document_update(Some(from), applied);
        Ok(())
    }

    /// Applies a v1 update in its own transaction; false when it told the document nothing new.
    ///
    /// "Nothing new" must be judged after applying: a SyncStep2 carries its sender's whole
    /// delete set every time, and storing or forwarding that on each reconnect would grow the log
    /// for nothing. An update from a peer must build only on what the room holds (see
    /// [`crate::untrusted::UpdateShape`]); one read back from storage may still wait for a
    /// missing dependency inside yrs, and then counts as new.
    pub(super) fn apply_update(
        &mut self,
        update: &[u8],
        arrival: Arrival,
    ) -> Result<bool, ProtocolError> {
        Ok(self.apply_and_encode(update, false, arrival)?.is_some())
    }

    /// Applies `update` in its own transaction. `None` when it told the document nothing new;
    /// otherwise, when `encode_applied` is set or the update repeats clocks the document held,
    /// and nothing went pending, the update of exactly what the transaction applied (when
    /// something waits for a dependency, only the whole update carries it to the others).
    ///
    /// A repeat is encoded afresh because relayed as it came it would make each client
    /// integrate the overlap itself: Yjs does that from the last clock it holds, and when that
    /// clock is garbage-collected content its `Item.integrate` throws (`reading 'origin'`), so the
    /// update is lost to every client (found by the mutation fuzz, `docs/fuzzing.md`).
    pub(super) fn apply_and_encode(
        &mut self,
        update: &[u8],
        encode_applied: bool,
        arrival: Arrival,
    ) -> Result<Option<Option<Vec<u8>>>, ProtocolError> {
        self.apply_decoded(decode_update_with_shape(update)?, encode_applied, arrival)
    }

    /// [`Self::apply_and_encode`] of an update already decoded.
    fn apply_decoded(
        &mut self,
        (update, shape): (Update, UpdateShape),
        encode_applied: bool,
        arrival: Arrival,
    ) -> Result<Option<Option<Vec<u8>>>, ProtocolError> {
        if update.is_empty() || self.deferred.holds_all_of(&update) {
            return Ok(None);
        }
        if arrival == Arrival::Peer && !shape.is_satisfied_by(&self.doc().transact().state_vector())
        {
            return Err(ProtocolError::MissingDependencies);
        }
        // Shared with the transaction below, so the index beside it can be updated meanwhile.
        let doc = self.doc().clone();
        let admission = match arrival {
            Arrival::Store => {
                self.item_parents.forget();
                None
            }
            Arrival::Peer | Arrival::CheckedPeer | Arrival::Server => {
                self.item_parents.admit(&doc, &shape)?
            }
        };
        let mut transaction = doc.transact_mut();
        let pending_before = PendingState::of(&transaction);
        if let Err(error) = transaction.apply_update(update) {
            // yrs integrates block by block, and what it integrated before refusing the rest
            // stays in the document. From a peer, that part is stored and sent on like any
            // update: a document holding what no client was sent would show late joiners content
            // the others never see, and lose it on restart.
            self.item_parents.forget();
            if matches!(arrival, Arrival::Peer | Arrival::CheckedPeer) && transaction.has_changes()
            {
                let integrated = transaction.encode_update_v1();
                self.queue_document_update(None, integrated);
            }
            return Err(ProtocolError::UpdateRejected(error));
        }
        if let Some(admission) = admission {
            self.item_parents.record(&shape, admission);
        }
        let pending_changed = PendingState::of(&transaction) != pending_before;
        if !transaction.has_changes() && !pending_changed {
            return Ok(None);
        }
        let repeats = shape.blocks().iter().any(|block| {
            block.start < transaction.before_state().get(&ClientID::new(block.client))
        });
        let applied = ((encode_applied || repeats) && !pending_changed)
            .then(|| transaction.encode_update_v1());
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
        self.broadcast_frame(except, encode_frame(message));
    }

    /// Queues `frame` for every connection but `except`, if there is anyone to send it to.
    pub(super) fn broadcast_frame(&mut self, except: Option<ConnectionId>, frame: Bytes) {
        if !self.access.is_empty() {
            self.outgoing
                .push_back(Outgoing::Broadcast { except, frame });
        }
    }
}
