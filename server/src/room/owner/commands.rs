//! How the owner handles each command, and how a batch of them becomes one persist.
//!
//! Commands are handled one by one against the document; what they decide accumulates in a
//! [`Batch`] until the task says the batch ends (it handed over every command that was waiting).
//! Then the batch's updates, merged into one, become a single persist, and everything the batch
//! decided is held behind it. Receipts, relays and the answers to HTTP edits go after the
//! batch's own effects, so they never overtake what they follow.

use std::time::Instant;

use bytes::Bytes;
use crdt_core::{ConnectionId, Room};
use tracing::warn;

use super::super::command::{
    ApplyUpdate, CloseReason, CreateVersion, Delete, EditError, Export, Frame, Join, Leave, Relay,
    Restore, RoomCommand,
};
use super::super::effect::{Answer, Effect};
use super::{Phase, RoomOwner};
use crate::close_code;
use crate::telemetry;

/// What the batch being built has decided.
#[derive(Default)]
pub(super) struct Batch {
    effects: Vec<Effect>,
    updates: Vec<Bytes>,
    update_bytes: u64,
    writers: Vec<ConnectionId>,
    after: Vec<Effect>,
}

impl Batch {
    pub(super) fn add(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    pub(super) fn add_update(&mut self, update: Bytes, from: Option<ConnectionId>) {
        self.update_bytes += update.len() as u64;
        self.updates.push(update);
        if let Some(writer) = from
            && !self.writers.contains(&writer)
        {
            self.writers.push(writer);
        }
    }

    fn add_after(&mut self, effect: Effect) {
        self.after.push(effect);
    }
}

/// True when a frame starts with a SyncStep2 or Update, the messages that grow a document.
fn carries_document_update(frame: &[u8]) -> bool {
    matches!(frame, [0, 1 | 2, ..])
}

impl RoomOwner {
    /// Handles one command; its effects join the batch being built.
    pub(crate) fn handle_command(&mut self, command: RoomCommand, now: Instant) {
        let command = match command {
            RoomCommand::Peer(event) => return self.handle_peer(event, now),
            command => command,
        };
        self.last_command = now;
        self.commanded = true;
        if self.deleting.is_some() || matches!(self.phase, Phase::Deleting) {
            return self.refuse_while_deleting(command);
        }
        match &mut self.phase {
            Phase::Loading { .. } => self.stash.push_back(command),
            Phase::Asleep(members) => {
                if let RoomCommand::Leave(Leave { connection }) = command {
                    members.handle_disconnect(connection);
                    return;
                }
                self.wake_for(command);
            }
            Phase::Stopped(room) => match command {
                RoomCommand::Join(join) => self.batch.add(Effect::Answer(Answer::Redirected(join))),
                RoomCommand::Delete(Delete { reply }) => self.deleting = Some(reply),
                command if !command.is_owed_after_retiring() => {}
                command if room.is_none() => {
                    self.stash.push_back(command);
                    if !self.load_in_flight {
                        self.start_loading();
                    }
                }
                command => self.handle_with_document(command),
            },
            Phase::Awake(_) => self.handle_with_document(command),
            Phase::Deleting => unreachable!("handled above"),
        }
    }

    /// Takes the document of a sleeping room back, to handle `command` once it is loaded.
    pub(super) fn wake_for(&mut self, command: RoomCommand) {
        let Phase::Asleep(members) = std::mem::replace(&mut self.phase, Phase::Stopped(None))
        else {
            unreachable!("only a sleeping room wakes")
        };
        self.phase = Phase::Loading {
            resuming: Some(members),
        };
        self.stash.push_back(command);
        self.pipeline.push([Effect::Wake]);
        self.start_loading();
    }

    /// The task handed over every command that was waiting: the batch ends.
    pub(crate) fn handle_batch_end(&mut self, _now: Instant) {
        let batch = std::mem::take(&mut self.batch);
        let mut effects = batch.effects;
        effects.extend(batch.after);
        if batch.updates.is_empty() {
            self.pipeline.push(effects);
        } else {
            let updates = merge_for_storage(&self.name, batch.updates);
            let kept = updates.clone();
            let persist = self.pipeline.persist(updates, effects, batch.writers);
            self.track_persist(persist, kept);
        }
        self.after_progress();
    }

    fn refuse_while_deleting(&mut self, command: RoomCommand) {
        let reason = match &command {
            RoomCommand::Join(_) => {
                CloseReason::new(close_code::TRY_AGAIN_LATER, "the document is being deleted")
            }
            _ => CloseReason::new(close_code::DOCUMENT_DELETED, "document deleted"),
        };
        self.batch
            .add(Effect::Answer(Answer::Refused(Box::new(command), reason)));
    }

    fn room(&mut self) -> &mut Room {
        match &mut self.phase {
            Phase::Awake(room) | Phase::Stopped(Some(room)) => room,
            _ => unreachable!("commands needing the document are handled with it loaded"),
        }
    }

    fn handle_with_document(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join(Join {
                access,
                outbox,
                joined,
            }) => {
                let connection = self.room().handle_connect(access);
                // Admitted before anything is sent to it, the awareness states of who is here first.
                self.batch.add(Effect::Admit {
                    connection,
                    outbox,
                    joined,
                });
                self.collect_outgoing(None);
            }
            RoomCommand::Frame(frame) => self.handle_frame(frame),
            RoomCommand::Relay(Relay { connection, frame }) => {
                if self.room().has_connection(connection) {
                    self.batch.add_after(Effect::Relay {
                        from: connection,
                        frame,
                    });
                }
            }
            RoomCommand::Leave(Leave { connection }) => {
                self.forget_connection(connection);
                self.collect_outgoing(None);
            }
            RoomCommand::Export(Export { request, reply }) => {
                let answer = request.render(self.room().doc());
                self.batch
                    .add(Effect::Answer(Answer::Exported(reply, answer)));
            }
            RoomCommand::ApplyUpdate(ApplyUpdate { reply, .. })
            | RoomCommand::Restore(Restore { reply, .. })
                if self.settings.storage_health.refuses_writes() =>
            {
                let refusal = self.storage_refusal();
                let _ = reply.send(Err(EditError::StorageUnavailable(refusal)));
            }
            RoomCommand::ApplyUpdate(ApplyUpdate { update, reply }) => {
                let applied = self.room().handle_local_update(&update);
                self.finish_edit(applied, reply);
            }
            RoomCommand::Restore(Restore { content, reply }) => {
                let applied = self.room().handle_restore(&content);
                self.finish_edit(applied, reply);
            }
            RoomCommand::CreateVersion(CreateVersion { label, reply }) => {
                let snapshot = self.room().encode_state_as_update();
                self.batch.add(Effect::CreateVersion {
                    label,
                    snapshot,
                    reply,
                });
            }
            // Taken by `handle_peer` before any of this.
            RoomCommand::Peer(_) => {}
            RoomCommand::Delete(Delete { reply }) => {
                let reason = CloseReason::new(close_code::DOCUMENT_DELETED, "document deleted");
                for connection in self.room().connection_ids() {
                    self.forget_connection(connection);
                    self.batch.add(Effect::Close {
                        connection,
                        reason: reason.clone(),
                    });
                }
                self.collect_outgoing(None);
                self.deleting = Some(reply);
            }
        }
    }

    fn handle_frame(
        &mut self,
        Frame {
            connection,
            frame,
            receipt,
        }: Frame,
    ) {
        if !self.room().has_connection(connection) {
            return;
        }
        let pending = self.batch.update_bytes + self.pipeline.bytes_in_flight();
        if carries_document_update(&frame)
            && self.log.stored_bytes() + pending + frame.len() as u64
                > self.settings.max_document_bytes
        {
            warn!(%connection, "refusing an update that would pass the document size limit");
            telemetry::record_refusal("document_too_large");
            self.close(
                connection,
                CloseReason::new(
                    close_code::DOCUMENT_TOO_LARGE,
                    "the document would pass its size limit; the update was not applied",
                ),
            );
            return;
        }
        if carries_document_update(&frame) && self.settings.storage_health.refuses_writes() {
            // Refused before the room applies it: the document then never holds an edit storage
            // could not take. A reader's answer to the room's SyncStep1 changes nothing and passes.
            if self.room().frame_changes_document(&frame) {
                let reason =
                    CloseReason::new(close_code::STORAGE_UNAVAILABLE, &self.storage_refusal());
                telemetry::record_refusal("storage_unavailable");
                self.close(connection, reason);
                return;
            }
        }
        let handled = self.room().handle_frame(connection, &frame);
        // A frame whose later message failed may have applied earlier ones: collect them.
        self.collect_outgoing(Some(connection));
        match handled {
            Ok(()) => {
                if let Some(frame) = receipt {
                    self.batch.add_after(Effect::Send {
                        to: connection,
                        frame,
                    });
                }
            }
            Err(error) => {
                warn!(%connection, %error, "closing connection after a refused frame");
                let (code, refusal) = if error.is_oversized() {
                    (close_code::TOO_BIG, "awareness_too_large")
                } else {
                    (close_code::MALFORMED, "malformed_frame")
                };
                telemetry::record_refusal(refusal);
                self.close(connection, CloseReason::new(code, &error.to_string()));
            }
        }
    }

    /// Why an edit is refused while storage takes no writes.
    fn storage_refusal(&self) -> String {
        let outage = self.settings.storage_health.outage();
        outage.map_or_else(
            || "storage unavailable".to_owned(),
            |outage| outage.describe(),
        )
    }

    fn close(&mut self, connection: ConnectionId, reason: CloseReason) {
        self.forget_connection(connection);
        self.collect_outgoing(None);
        self.batch.add(Effect::Close { connection, reason });
    }

    fn finish_edit(
        &mut self,
        applied: Result<bool, crdt_core::ProtocolError>,
        reply: tokio::sync::oneshot::Sender<Result<bool, EditError>>,
    ) {
        match applied {
            Ok(changed) => {
                self.collect_outgoing(None);
                self.batch
                    .add_after(Effect::Answer(Answer::Edited(reply, Ok(changed))));
            }
            Err(error) => {
                self.batch.add(Effect::Answer(Answer::Edited(
                    reply,
                    Err(EditError::Rejected(error)),
                )));
            }
        }
    }
}

/// The batch as one merged update, or as it came if it cannot be merged (it was applied by the
/// room, so that would be a bug worth a log line, not a lost batch). Merged here, on the room's
/// task, rather than on the shared writer: one append per batch instead of one per update.
fn merge_for_storage(document: &str, updates: Vec<Bytes>) -> Vec<Bytes> {
    if updates.len() < 2 {
        return updates;
    }
    match crdt_core::merge::merge_updates(&updates) {
        Ok(merged) => vec![Bytes::from(merged)],
        Err(error) => {
            warn!(document, %error, "storing a batch unmerged: its updates could not be merged");
            updates
        }
    }
}
