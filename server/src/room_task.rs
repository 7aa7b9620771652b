//! The task that owns one room: the only place its document is read or written.
//!
//! Before it answers anyone, the task loads the document from storage, so a client never sees an
//! empty document that fills in later. Commands then arrive on a bounded queue and are handled in
//! batches: every command already waiting is fed to the sans-IO [`Room`], the batch's updates are
//! persisted with one group commit, and only then are the resulting frames sent (durable before
//! visible). Frames are pushed to each connection's bounded queue without waiting; a connection
//! whose queue is full is closed with [`close_code::SLOW_CONSUMER`] so its client resyncs: an
//! update is never dropped silently. A frame's receipt and relayed frames wait for the same
//! moment, after the batch's own frames, so they never overtake what they follow. When the last
//! client leaves, the document is compacted and the room released from memory; while clients
//! stay but are idle, it sleeps (see [`crate::room_sleep`]). Carrying out a batch's effects lives
//! in `effects`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crdt_core::{ConnectionId, Room};
use tokio::sync::oneshot;
use tracing::{debug, error, warn};

use crate::close_code;
use crate::command_queue::CommandReceiver;
use crate::persistence::Persistence;
use crate::room_command::{CloseReason, ConnectionOutbox, EditError, QueuedCommand, RoomCommand};
use crate::room_sleep::{Asleep, Awakening, idle_before_sleep, sleep_until_needed};
use crate::room_storage::{DocumentLog, load_room};
use crate::rooms::{RoomRegistry, RoomStatus};
use crate::telemetry;
use effects::AfterEffects;

mod effects;

/// Most commands handled before effects are carried out, bounding the latency a batch adds.
const MAX_BATCH_COMMANDS: usize = 64;

/// How often awareness states are checked for expiry (y-protocols checks every 3 s).
const AWARENESS_CHECK_INTERVAL: Duration = Duration::from_secs(3);

/// What a room task is, besides its queue.
pub(crate) struct RoomContext {
    pub(crate) name: Arc<str>,
    pub(crate) generation: u64,
    pub(crate) registry: RoomRegistry,
    pub(crate) persistence: Persistence,
    /// Largest the document may grow in storage.
    pub(crate) max_document_bytes: u64,
    /// What one client frame may carry.
    pub(crate) frame_limits: crdt_core::wire::FrameLimits,
    /// What the room publishes for listings.
    pub(crate) status: Arc<RoomStatus>,
    /// How long a room with clients stays loaded without a command before it sleeps (see
    /// [`crate::room_sleep`]); `None` keeps it loaded.
    pub(crate) idle_document_after: Option<Duration>,
}

/// Runs a room until its last connection leaves and nothing is waiting for it.
pub(crate) async fn run_room(context: RoomContext, mut commands: CommandReceiver<QueuedCommand>) {
    let loaded_rooms = metrics::gauge!(telemetry::ROOMS_LOADED);
    let mut asleep: Option<Asleep> = None;
    let mut first_commands: Vec<QueuedCommand> = Vec::new();
    loop {
        // Boxed, like the loaded room below, so a sleeping room's task holds neither.
        let (room, log) = match Box::pin(load_room(&context)).await {
            Ok(loaded) => loaded,
            Err(error) => {
                error!(room = %context.name, %error, "cannot load the document");
                let reason = CloseReason::new(close_code::INTERNAL_ERROR, "document unavailable");
                if let Some(asleep) = asleep {
                    for outbox in asleep.outboxes.into_values() {
                        let _ = outbox.close.send(reason.clone());
                    }
                }
                for command in first_commands {
                    refuse(*command, &reason);
                }
                refuse_waiting_joins(&context, &mut commands, reason);
                return;
            }
        };
        loaded_rooms.increment(1.0);
        let awake = Box::pin(run_loaded_room(
            &context,
            &mut commands,
            room,
            log,
            asleep.take(),
            std::mem::take(&mut first_commands),
        ))
        .await;
        loaded_rooms.decrement(1.0);
        let Some(falling_asleep) = awake else {
            debug!(room = %context.name, "room released from memory");
            return;
        };
        debug!(room = %context.name, "room asleep: its document is let go of");
        match sleep_until_needed(&context, &mut commands, falling_asleep).await {
            Awakening::Wake {
                asleep: woken,
                commands: waking,
            } => {
                asleep = Some(woken);
                first_commands = waking;
            }
            Awakening::Retired => return,
        }
    }
}

/// Runs a loaded room (taking back `asleep`'s members, then handling `first_commands`) until
/// its last connection leaves, or until it has been idle long enough to sleep: then it returns
/// what the sleeping room keeps.
async fn run_loaded_room(
    context: &RoomContext,
    commands: &mut CommandReceiver<QueuedCommand>,
    mut room: Room,
    log: DocumentLog,
    asleep: Option<Asleep>,
    first_commands: Vec<QueuedCommand>,
) -> Option<Asleep> {
    let mut outboxes = HashMap::new();
    if let Some(asleep) = asleep {
        room.handle_resume(asleep.members);
        outboxes = asleep.outboxes;
    }
    let mut owner = RoomOwner {
        room,
        log,
        outboxes,
        closing: Vec::new(),
        after_effects: Vec::new(),
        edits_done: Vec::new(),
        deleting: None,
        max_document_bytes: context.max_document_bytes,
        broadcast_fanout: metrics::histogram!(telemetry::BROADCAST_FANOUT),
    };
    // The same tick expires awareness and notices the room has been idle long enough to sleep.
    let check_every = context
        .idle_document_after
        .map_or(AWARENESS_CHECK_INTERVAL, |idle| {
            (idle_before_sleep(idle, 0) / 2)
                .clamp(Duration::from_millis(1), AWARENESS_CHECK_INTERVAL)
        });
    let mut awareness_check = tokio::time::interval(check_every);
    awareness_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = first_commands;
    let mut last_command = Instant::now();
    loop {
        if batch.is_empty() {
            tokio::select! {
                received = commands.recv_many(&mut batch, MAX_BATCH_COMMANDS) => {
                    if received == 0 {
                        break;
                    }
                }
                // Joiners of a room loaded unapplied are owed its SyncStep1; that waits until
                // nothing else does, after the answers they were waiting for went out.
                () = std::future::ready(()), if owner.room.has_idle_work() && commands.is_empty() => {
                    owner.room.handle_idle();
                }
                _ = awareness_check.tick() => owner.room.handle_tick(),
            }
        }
        if !batch.is_empty() {
            last_command = Instant::now();
        }
        for command in batch.drain(..) {
            owner.handle_command(*command);
        }
        if !owner.finish_batch(context, commands).await {
            return None;
        }
        context
            .status
            .clients
            .store(owner.outboxes.len(), Ordering::Relaxed);
        if let Some(done) = owner.deleting.take() {
            owner.delete(context, commands, done).await;
            return None;
        }
        if owner.log.needs_compaction() {
            owner.log.compact(context, &owner.room).await;
        }
        if owner.outboxes.is_empty() {
            // Persist a snapshot before letting go, so the next load is one record.
            if owner.log.has_tail() {
                owner.log.compact(context, &owner.room).await;
            }
            if context
                .registry
                .retire(&context.name, context.generation, commands)
            {
                owner.handle_leftovers(context, commands).await;
                break;
            }
        } else if context.idle_document_after.is_some_and(|idle| {
            last_command.elapsed() >= idle_before_sleep(idle, owner.log.stored_bytes())
        }) && commands.is_empty()
            && let Some(asleep) = owner.fall_asleep(context).await
        {
            return Some(asleep);
        }
    }
    None
}

/// Answers a command the room will never handle, so its sender is not left waiting.
fn refuse(command: RoomCommand, reason: &CloseReason) {
    match command {
        RoomCommand::Join { joined, .. } => {
            let _ = joined.send(Err(reason.clone()));
        }
        RoomCommand::Edit { done, .. } => {
            let _ = done.send(Err(EditError::Storage(reason.reason.clone())));
        }
        RoomCommand::Delete { done } => {
            let _ = done.send(Err(reason.reason.clone()));
        }
        // Dropping a read's closure tells its caller the room is unavailable.
        _ => {}
    }
}

/// Takes the room out of the registry and refuses every join still queued.
fn refuse_waiting_joins(
    context: &RoomContext,
    commands: &mut CommandReceiver<QueuedCommand>,
    reason: CloseReason,
) {
    context
        .registry
        .remove(&context.name, context.generation, commands);
    while let Some(command) = commands.try_recv() {
        if let RoomCommand::Join { joined, .. } = *command {
            let _ = joined.send(Err(reason.clone()));
        }
    }
}

/// The room and the connections it sends to.
struct RoomOwner {
    room: Room,
    log: DocumentLog,
    outboxes: HashMap<ConnectionId, ConnectionOutbox>,
    /// Connections to close once the current effects are carried out.
    closing: Vec<(ConnectionId, CloseReason)>,
    /// Frames to send once the batch's effects are durable and sent.
    after_effects: Vec<AfterEffects>,
    /// Server-side edits waiting for their changes to be durable.
    edits_done: Vec<(oneshot::Sender<Result<bool, EditError>>, bool)>,
    /// A delete asked for in this batch.
    deleting: Option<oneshot::Sender<Result<bool, String>>>,
    /// Largest the document may grow in storage.
    max_document_bytes: u64,
    /// Looked up once per load: a registry look-up per broadcast showed in W1's profile.
    broadcast_fanout: metrics::Histogram,
}

/// True when a frame starts with a SyncStep2 or Update, the messages that grow a document.
fn carries_document_update(frame: &[u8]) -> bool {
    matches!(frame, [0, 1 | 2, ..])
}

impl RoomOwner {
    fn handle_command(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join {
                access,
                outbox,
                joined,
            } => {
                let connection = self.room.handle_connect(access);
                if joined.send(Ok(connection)).is_ok() {
                    self.outboxes.insert(connection, outbox);
                } else {
                    self.room.handle_disconnect(connection);
                }
            }
            RoomCommand::Frame {
                connection,
                frame,
                receipt,
            } => {
                if !self.outboxes.contains_key(&connection) {
                    return;
                }
                if carries_document_update(&frame)
                    && self.log.stored_bytes() + frame.len() as u64 > self.max_document_bytes
                {
                    warn!(%connection, "refusing an update that would pass the document size limit");
                    telemetry::record_refusal("document_too_large");
                    let reason = CloseReason::new(
                        close_code::DOCUMENT_TOO_LARGE,
                        "the document would pass its size limit; the update was not applied",
                    );
                    self.closing.push((connection, reason));
                    return;
                }
                match self.room.handle_frame(connection, &frame) {
                    Ok(()) => {
                        if let Some(frame) = receipt {
                            let to = connection;
                            self.after_effects.push(AfterEffects::Receipt { to, frame });
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
                        self.closing
                            .push((connection, CloseReason::new(code, &error.to_string())));
                    }
                }
            }
            RoomCommand::Relay { connection, frame } => {
                if self.outboxes.contains_key(&connection) {
                    let from = connection;
                    self.after_effects.push(AfterEffects::Relay { from, frame });
                }
            }
            RoomCommand::Leave { connection } => {
                if self.outboxes.remove(&connection).is_some() {
                    self.room.handle_disconnect(connection);
                }
            }
            RoomCommand::Read(read) => read(&self.room),
            RoomCommand::Edit { edit, done } => match edit(&mut self.room) {
                Ok(changed) => self.edits_done.push((done, changed)),
                Err(error) => {
                    let _ = done.send(Err(EditError::Rejected(error)));
                }
            },
            RoomCommand::Delete { done } => self.deleting = Some(done),
        }
    }

    /// Carries out the batch's effects and answers its edits. False when the room had to close
    /// because its updates could not be made durable.
    async fn finish_batch(
        &mut self,
        context: &RoomContext,
        commands: &mut CommandReceiver<QueuedCommand>,
    ) -> bool {
        match self.carry_out_effects(context).await {
            Ok(()) => {
                for (done, changed) in self.edits_done.drain(..) {
                    let _ = done.send(Ok(changed));
                }
                true
            }
            Err(error) => {
                error!(room = %context.name, %error, "closing the room: its updates are not durable");
                for (done, _) in self.edits_done.drain(..) {
                    let _ = done.send(Err(EditError::Storage(error.to_string())));
                }
                self.close_everyone(CloseReason::new(
                    close_code::INTERNAL_ERROR,
                    "storage failure: reconnect to resync",
                ));
                refuse_waiting_joins(
                    context,
                    commands,
                    CloseReason::new(close_code::INTERNAL_ERROR, "storage failure"),
                );
                false
            }
        }
    }

    /// Lets the document go if nothing lives only in memory: the log is compacted first, so the
    /// reload is one record. `None` when the room must stay awake (live awareness states).
    async fn fall_asleep(&mut self, context: &RoomContext) -> Option<Asleep> {
        let members = self.room.members_if_idle()?;
        if self.log.has_tail() {
            self.log.compact(context, &self.room).await;
        }
        Some(Asleep {
            members,
            outboxes: std::mem::take(&mut self.outboxes),
        })
    }

    /// Commands that slipped in while the room retired: reads and edits are still served (the
    /// document is at hand); joins are dropped so their connections go to a fresh room.
    async fn handle_leftovers(
        &mut self,
        context: &RoomContext,
        commands: &mut CommandReceiver<QueuedCommand>,
    ) {
        let mut any = false;
        while let Some(command) = commands.try_recv() {
            if matches!(*command, RoomCommand::Read(_) | RoomCommand::Edit { .. }) {
                self.handle_command(*command);
                any = true;
            }
        }
        if any && self.finish_batch(context, commands).await && self.log.has_tail() {
            self.log.compact(context, &self.room).await;
        }
    }

    /// Closes every client (the document is gone, so they should not reconnect) and removes the
    /// document from storage.
    async fn delete(
        &mut self,
        context: &RoomContext,
        commands: &mut CommandReceiver<QueuedCommand>,
        done: oneshot::Sender<Result<bool, String>>,
    ) {
        self.close_everyone(CloseReason::new(
            close_code::DOCUMENT_DELETED,
            "document deleted",
        ));
        context
            .registry
            .remove(&context.name, context.generation, commands);
        let store = context.persistence.store().clone();
        let name = context.name.clone();
        let deleted = tokio::task::spawn_blocking(move || store.delete(&name))
            .await
            .map_err(|error| error.to_string())
            .and_then(|deleted| deleted.map_err(|error| error.to_string()));
        let _ = done.send(deleted);
    }
}
