//! The owner of one room: every decision about it, as a synchronous state machine.
//!
//! Modelled on quinn-proto's `Connection`: the owner does no I/O and reads no clock. Its task
//! feeds it what happened (`handle_command`, `handle_batch_end`, `handle_loaded`,
//! `handle_persisted`, `handle_compacted`, `handle_timeout`, ...) and carries out what it
//! decides, polled with [`RoomOwner::poll_effect`]; [`RoomOwner::poll_timeout`] says when to call
//! back. So everything the room promises is tested in `owner/tests.rs` with a simulated store, a
//! manual clock and injected failures:
//!
//! - durable before visible: what a batch of commands shows (frames, answers, receipts, relays)
//!   is held until the batch's updates are durable (see `pipeline`);
//! - nothing is delivered twice or out of order: effects leave in the order they were decided;
//! - a failed persist closes exactly the clients whose updates it carried, and the document is
//!   persisted whole again before anything else is shown;
//! - sleep, wake and retirement: a quiet room lets its document go while its clients stay
//!   (`sleep`), takes it back when one speaks, and leaves the registry when the last one leaves;
//!   commands that race any of this are served, never dropped;
//! - compaction runs while edits arrive: it folds only what is durable, and later appends stay.
//!
//! The document's life: `Loading` (stashing commands) -> `Awake` <-> `Asleep`, then `Stopped`
//! once retired, deleted or failed. Handling commands lives in `commands`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crdt_core::wire::FrameLimits;
use crdt_core::{ConnectionId, Members, Outgoing, Room};
use storage::{AppendReceipt, LoadedDoc, Seq};
use tracing::{error, warn};

use super::command::{CloseReason, RoomCommand};
use super::document_log::DocumentLog;
use super::effect::{Answer, BatchId, Effect};
use super::loading::{RoomClock, room_from_loaded};
use super::sleep::idle_before_sleep;
use super::storage_health::StorageHealth;
use crate::close_code;
use crate::telemetry;
use pipeline::{MAX_PERSISTS_IN_FLIGHT, Pipeline};

mod commands;
mod lifecycle;
mod peers;
mod pipeline;
#[cfg(test)]
mod tests;

/// How often awareness states are checked for expiry (y-protocols checks every 3 s).
pub(crate) const AWARENESS_CHECK_INTERVAL: Duration = Duration::from_secs(3);

/// What every room of a server shares.
#[derive(Debug, Clone)]
pub(crate) struct OwnerSettings {
    /// Largest the document may grow in storage.
    pub(crate) max_document_bytes: u64,
    /// How long a room with clients stays loaded without a command before it sleeps; `None`
    /// keeps it loaded.
    pub(crate) idle_document_after: Option<Duration>,
    /// What one client frame may carry.
    pub(crate) frame_limits: FrameLimits,
    /// Whether storage takes writes: edits are refused at once while it does not.
    pub(crate) storage_health: Arc<StorageHealth>,
    /// Other nodes share the documents (`--cluster`): publish what becomes durable, apply what
    /// they publish.
    pub(crate) clustered: bool,
}

/// Where the document is.
enum Phase {
    /// Being loaded; `resuming` holds the members of a room waking from sleep.
    Loading {
        resuming: Option<Members>,
    },
    Awake(Box<Room>),
    Asleep(Members),
    /// Its clients are closed and its storage is being removed.
    Deleting,
    /// Out of the registry: finishing what was owed, then done.
    Stopped(Option<Box<Room>>),
}

/// A compaction in flight.
struct Compaction {
    through: Seq,
    snapshot_bytes: u64,
    /// Fall asleep once it is done, if nothing happened meanwhile.
    then_sleep: bool,
}

/// A persist in flight.
struct Persisting {
    batch: BatchId,
    count: usize,
    /// Kept only with a cluster.
    updates: Vec<Bytes>,
}

/// The owner of one room.
pub(crate) struct RoomOwner {
    name: Arc<str>,
    settings: OwnerSettings,
    clock: RoomClock,
    phase: Phase,
    log: DocumentLog,
    pipeline: Pipeline,
    /// Commands waiting for the document to load.
    stash: VecDeque<RoomCommand>,
    /// The batch being built: effects decided, updates to persist, their writers.
    batch: commands::Batch,
    compaction: Option<Compaction>,
    /// A compaction failed (storage refused it, short of space): none is tried again before the
    /// first command at or after this time, rather than at once and forever.
    compaction_retry_at: Option<Instant>,
    /// Persists in flight, oldest first: how many updates each appends, and with a cluster the
    /// updates themselves, to publish once durable.
    persisting: VecDeque<Persisting>,
    /// Reading the store for what the cluster link did not bring.
    catch_up: peers::CatchUp,
    /// A delete waits for what is in flight, then answers here.
    deleting: Option<tokio::sync::oneshot::Sender<Result<bool, String>>>,
    load_in_flight: bool,
    delete_in_flight: bool,
    /// A `Retire` was emitted and its outcome is not known yet.
    retiring: bool,
    /// Whether any command arrived yet: a room is started for one, and must not retire before
    /// it has seen it (its sender would only find the queue closed and start another).
    commanded: bool,
    last_command: Instant,
    next_awareness_check: Instant,
}

impl RoomOwner {
    /// The owner of room `name`, about to load its document.
    pub(crate) fn new(
        name: Arc<str>,
        settings: OwnerSettings,
        clock: RoomClock,
        now: Instant,
    ) -> Self {
        let mut owner = RoomOwner {
            name,
            settings,
            clock,
            phase: Phase::Loading { resuming: None },
            log: DocumentLog::of_loaded(&LoadedDoc::default(), false),
            pipeline: Pipeline::default(),
            stash: VecDeque::new(),
            batch: commands::Batch::default(),
            compaction: None,
            compaction_retry_at: None,
            persisting: VecDeque::new(),
            catch_up: peers::CatchUp::default(),
            deleting: None,
            load_in_flight: false,
            delete_in_flight: false,
            retiring: false,
            commanded: false,
            last_command: now,
            next_awareness_check: now + AWARENESS_CHECK_INTERVAL,
        };
        owner.start_loading();
        owner
    }

    /// The next effect to carry out.
    pub(crate) fn poll_effect(&mut self) -> Option<Effect> {
        self.pipeline.pop()
    }

    /// When to call [`RoomOwner::handle_timeout`] next, if ever.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let due = self.catch_up.due();
        let Phase::Awake(_) = &self.phase else {
            return due;
        };
        let sleep = self
            .settings
            .idle_document_after
            .map(|idle| self.last_command + idle_before_sleep(idle, self.log.stored_bytes()));
        let next = sleep.map_or(self.next_awareness_check, |sleep| {
            sleep.min(self.next_awareness_check)
        });
        Some(due.map_or(next, |due| due.min(next)))
    }

    /// Whether the task should hand it more commands: not while a retirement is being decided,
    /// nor with [`MAX_PERSISTS_IN_FLIGHT`] persists outstanding (back-pressure reaches the
    /// clients through the full command queue).
    pub(crate) fn wants_commands(&self) -> bool {
        !self.retiring && self.pipeline.in_flight() < MAX_PERSISTS_IN_FLIGHT
    }

    /// How many connections the room has.
    pub(crate) fn connection_count(&self) -> usize {
        match &self.phase {
            Phase::Awake(room) => room.connection_count(),
            Phase::Asleep(members) => members.len(),
            Phase::Loading {
                resuming: Some(members),
            } => members.len(),
            _ => 0,
        }
    }

    /// Whether the document is in memory.
    pub(crate) fn is_awake(&self) -> bool {
        matches!(self.phase, Phase::Awake(_))
    }

    /// True once the room is out of the registry and owes nothing: its task may end.
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Stopped(_))
            && self.pipeline.is_empty()
            && self.compaction.is_none()
            && !self.load_in_flight
            && !self.delete_in_flight
            && !self.catch_up.is_in_flight()
            && self.stash.is_empty()
    }

    /// The document loaded (or could not be).
    pub(crate) fn handle_loaded(&mut self, loaded: Result<LoadedDoc, String>, now: Instant) {
        self.load_in_flight = false;
        let (resuming, stopped) = match &mut self.phase {
            Phase::Loading { resuming } => (resuming.take(), false),
            Phase::Stopped(None) => (None, true),
            _ => return,
        };
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(error) => return self.fail_to_load(resuming, &error),
        };
        let (mut room, log) =
            room_from_loaded(&self.name, &loaded, &self.clock, self.settings.frame_limits);
        room.share_with_peers(self.settings.clustered);
        self.log = log;
        if let Some(members) = resuming {
            room.handle_resume(members);
        }
        let room = Box::new(room);
        self.phase = if stopped {
            Phase::Stopped(Some(room))
        } else {
            Phase::Awake(room)
        };
        self.greet_peers();
        let stashed: Vec<RoomCommand> = self.stash.drain(..).collect();
        for command in stashed {
            self.handle_command(command, now);
        }
        self.handle_batch_end(now);
    }

    /// A persist asked for with [`Effect::Persist`] finished.
    pub(crate) fn handle_persisted(
        &mut self,
        batch: BatchId,
        result: Result<Option<AppendReceipt>, String>,
        now: Instant,
    ) {
        let persisted = match self.persisting.front() {
            Some(persisting) if persisting.batch == batch => self.persisting.pop_front(),
            _ => None,
        };
        match result {
            Ok(receipt) => {
                // This room's append created the document afresh: another node deleted it.
                let recreated = self.settings.clustered
                    && receipt.is_some_and(|receipt| receipt.created)
                    && self.log.highest() > Seq::ZERO;
                let count = persisted.as_ref().map_or(1, |persisted| persisted.count);
                let appended = self.log.record_append(receipt, count);
                if let (Some((first, _)), Some(persisted)) = (appended, persisted) {
                    self.publish_appended(first, persisted.updates);
                }
                self.pipeline.handle_durable(batch);
                if recreated {
                    self.end_deleted_elsewhere();
                } else {
                    self.handle_own_hole(now);
                }
            }
            Err(error) => self.handle_persist_failure(batch, &error),
        }
        self.after_progress();
    }

    /// The task could not queue a frame for `connection`: its client fell too far behind. It is
    /// closed before anything else happens, so it misses nothing silently: it resyncs.
    pub(crate) fn handle_undeliverable(&mut self, connection: ConnectionId, now: Instant) {
        if !self.forget_connection(connection) {
            return;
        }
        warn!(%connection, "disconnecting a client that fell behind");
        metrics::counter!(telemetry::SLOW_CLIENT_DISCONNECTS).increment(1);
        self.pipeline.push_urgent(Effect::Close {
            connection,
            reason: CloseReason::new(
                close_code::SLOW_CONSUMER,
                "too far behind: reconnect to resync",
            ),
        });
        self.handle_batch_end(now);
    }

    /// Whether the room has deferred work to do once no command is waiting (see
    /// [`Room::has_idle_work`]).
    pub(crate) fn has_idle_work(&self) -> bool {
        matches!(&self.phase, Phase::Awake(room) if room.has_idle_work())
    }

    /// No command is waiting: do the deferred work.
    pub(crate) fn handle_idle(&mut self, now: Instant) {
        if let Phase::Awake(room) = &mut self.phase {
            room.handle_idle();
            self.handle_batch_end(now);
        }
    }

    fn start_loading(&mut self) {
        self.load_in_flight = true;
        self.pipeline.push([Effect::Load]);
    }

    fn fail_to_load(&mut self, resuming: Option<Members>, error: &str) {
        error!(room = %self.name, %error, "cannot load the document");
        let reason = CloseReason::new(close_code::INTERNAL_ERROR, "document unavailable");
        let mut effects = Vec::new();
        if let Some(members) = resuming {
            for (connection, _) in members.connections() {
                effects.push(Effect::Close {
                    connection,
                    reason: reason.clone(),
                });
            }
        }
        for command in self.stash.drain(..) {
            effects.push(Effect::Answer(Answer::Refused(
                Box::new(command),
                reason.clone(),
            )));
        }
        self.pipeline.push(effects);
        self.stop(reason);
    }

    /// Leaves the registry now, refusing what waits with `reason`.
    pub(super) fn stop(&mut self, reason: CloseReason) {
        self.phase = Phase::Stopped(None);
        self.pipeline.push([Effect::Remove { reason }]);
    }

    fn handle_persist_failure(&mut self, batch: BatchId, error: &str) {
        let failure = self.pipeline.handle_failed(batch, error);
        let reason = CloseReason::new(
            close_code::STORAGE_UNAVAILABLE,
            "storage unavailable: reconnect to resync",
        );
        for connection in failure.writers {
            if self.forget_connection(connection) {
                self.pipeline.push_urgent(Effect::Close {
                    connection,
                    reason: reason.clone(),
                });
            }
        }
        if failure.recovery_failed {
            error!(room = %self.name, error, "closing the room: its document cannot be made durable");
            self.pipeline.abandon(error);
            self.close_everyone(&reason);
            self.stop(reason);
            return;
        }
        if failure.needs_recovery {
            error!(room = %self.name, error, "a persist failed; persisting the whole document again");
            if let Phase::Awake(room) | Phase::Stopped(Some(room)) = &self.phase {
                let state = Bytes::from(room.encode_state_as_update());
                let batch = self.pipeline.persist_recovery(state.clone());
                self.track_persist(batch, vec![state]);
            }
        }
        // Whatever the room decided since still follows the failed batch; the batch being built
        // is unaffected.
    }

    pub(super) fn close_everyone(&mut self, reason: &CloseReason) {
        let connections: Vec<ConnectionId> = match &self.phase {
            Phase::Awake(room) => room.connection_ids(),
            Phase::Asleep(members) => members.connections().map(|(id, _)| id).collect(),
            _ => Vec::new(),
        };
        for connection in connections {
            self.forget_connection(connection);
            self.pipeline.push_urgent(Effect::Close {
                connection,
                reason: reason.clone(),
            });
        }
    }

    /// Removes `connection` from the room (its awareness states go with it); whether it was in.
    fn forget_connection(&mut self, connection: ConnectionId) -> bool {
        match &mut self.phase {
            Phase::Awake(room) | Phase::Stopped(Some(room)) => {
                let known = room.has_connection(connection);
                room.handle_disconnect(connection);
                known
            }
            Phase::Asleep(members) => members.handle_disconnect(connection),
            Phase::Loading {
                resuming: Some(members),
            } => members.handle_disconnect(connection),
            _ => false,
        }
    }

    /// Takes the room's effects from the crdt-core room into the batch being built.
    fn collect_outgoing(&mut self, from: Option<ConnectionId>) {
        let (Phase::Awake(room) | Phase::Stopped(Some(room))) = &mut self.phase else {
            return;
        };
        while let Some(outgoing) = room.poll_outgoing() {
            match outgoing {
                Outgoing::Persist { update } => self.batch.add_update(update, from),
                Outgoing::Reply { to, frame } => self.batch.add(Effect::Send { to, frame }),
                Outgoing::Broadcast { except, frame } => {
                    self.batch.add(Effect::Broadcast { except, frame })
                }
                Outgoing::ToPeers { frame } => {
                    self.batch
                        .add(Effect::Publish(crate::cluster::Announcement::Awareness {
                            frame,
                        }))
                }
            }
        }
    }
}
