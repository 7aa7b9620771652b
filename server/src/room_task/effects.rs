//! Carrying out a room's effects: persist the batch's updates, then send its frames.
//!
//! Kept apart from the command handling in [`super`] because this is the half with the rules
//! that make the room safe to watch: nothing is sent before what it follows is durable, a
//! broadcast is encoded once and shared, a full client queue closes the client (4000) rather
//! than dropping a frame, and receipts and relayed frames go out after the batch's own frames.

use bytes::Bytes;
use crdt_core::{ConnectionId, Outgoing};
use tracing::warn;

use super::{RoomContext, RoomOwner};
use crate::close_code;
use crate::persistence::PersistError;
use crate::room_command::{CloseReason, ConnectionOutbox};
use crate::telemetry;
use tokio::sync::mpsc::error::TrySendError;

/// A frame sent once the batch's effects are durable and sent.
pub(super) enum AfterEffects {
    /// A frame's receipt, to its sender.
    Receipt { to: ConnectionId, frame: Bytes },
    /// A relayed frame, to every connection that receives relays except its sender.
    Relay { from: ConnectionId, frame: Bytes },
}

impl RoomOwner {
    /// Persists the pending updates, then sends every pending frame, closing connections that
    /// fell behind; their departure produces effects of its own (awareness removal), so this runs
    /// until quiet.
    pub(super) async fn carry_out_effects(
        &mut self,
        context: &RoomContext,
    ) -> Result<(), PersistError> {
        loop {
            let effects: Vec<Outgoing> = std::iter::from_fn(|| self.room.poll_outgoing()).collect();
            let updates: Vec<Bytes> = effects
                .iter()
                .filter_map(|effect| match effect {
                    Outgoing::Persist { update } => Some(update.clone()),
                    _ => None,
                })
                .collect();
            if !updates.is_empty() {
                let receipt = context
                    .persistence
                    .persist(context.name.clone(), updates)
                    .await?;
                self.log.record_append(receipt);
            }
            for effect in effects {
                match effect {
                    Outgoing::Reply { to, frame } => self.deliver(to, frame),
                    Outgoing::Broadcast { except, frame } => {
                        let sent = self.fan_out(frame, |connection, _| Some(connection) != except);
                        self.broadcast_fanout.record(sent as f64);
                    }
                    Outgoing::Persist { .. } => {}
                }
            }
            self.send_after_effects();
            if self.closing.is_empty() {
                return Ok(());
            }
            for (connection, reason) in std::mem::take(&mut self.closing) {
                if let Some(outbox) = self.outboxes.remove(&connection) {
                    let _ = outbox.close.send(reason);
                    self.room.handle_disconnect(connection);
                }
            }
        }
    }

    /// Sends the receipts and relayed frames of the batch, whose effects are now durable and sent.
    fn send_after_effects(&mut self) {
        for after in std::mem::take(&mut self.after_effects) {
            match after {
                AfterEffects::Receipt { to, frame } => self.deliver(to, frame),
                AfterEffects::Relay { from, frame } => {
                    self.fan_out(frame, |connection, outbox| {
                        connection != from && outbox.receives_relays
                    });
                }
            }
        }
    }

    /// Sends `frame` to every connection `include` picks; how many it picked.
    fn fan_out(
        &mut self,
        frame: Bytes,
        include: impl Fn(ConnectionId, &ConnectionOutbox) -> bool,
    ) -> usize {
        let recipients: Vec<ConnectionId> = self
            .outboxes
            .iter()
            .filter(|(connection, outbox)| include(**connection, outbox))
            .map(|(connection, _)| *connection)
            .collect();
        for &connection in &recipients {
            self.deliver(connection, frame.clone());
        }
        recipients.len()
    }

    pub(super) fn close_everyone(&mut self, reason: CloseReason) {
        for (_, outbox) in self.outboxes.drain() {
            let _ = outbox.close.send(reason.clone());
        }
    }

    fn deliver(&mut self, connection: ConnectionId, frame: Bytes) {
        let Some(outbox) = self.outboxes.get(&connection) else {
            return;
        };
        // A connection being closed gets nothing more: after a gap it must resync, not go on.
        if self
            .closing
            .iter()
            .any(|(closing, _)| *closing == connection)
        {
            return;
        }
        match outbox.frames.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                warn!(%connection, "disconnecting a client that fell behind");
                metrics::counter!(telemetry::SLOW_CLIENT_DISCONNECTS).increment(1);
                let reason = CloseReason::new(
                    close_code::SLOW_CONSUMER,
                    "too far behind: reconnect to resync",
                );
                self.closing.push((connection, reason));
            }
            // The connection is on its way out; its Leave command follows.
            Err(TrySendError::Closed(_)) => {}
        }
    }
}
