//! The task that owns one room: moves bytes and time between the world and the room's owner.
//!
//! Every decision is the owner's ([`super::owner`]); this task only feeds it what happened and
//! carries out what it decides: it takes commands from the room's bounded queue (everything
//! waiting, as one batch), hands persists to the storage writer and the owner their outcome in
//! order, runs loads, compactions, deletes and versions on the blocking pool, pushes frames into
//! each connection's queue without waiting, and sleeps until the owner's next timeout. A
//! connection whose queue is full is reported to the owner, which closes it (4000) rather than
//! let it miss an update silently.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use crdt_core::ConnectionId;
use crdt_core::clock::SystemClock;
use std::panic::AssertUnwindSafe;
use storage::{AppendReceipt, LoadedDoc};
use tokio::sync::mpsc::error::TrySendError;
use websocket_deflate::{COMPRESSION_THRESHOLD, SharedMessage};

use futures_util::FutureExt;
use tracing::{debug, error};

use super::command::{
    CloseReason, ConnectionOutbox, Leave, QueuedCommand, RoomCommand, VersionError,
};
use super::command_queue::CommandReceiver;
use super::directory::{Retirement, RoomStatus};
use super::effect::{BatchId, Effect};
use super::heavy_lane::{HEAVY_BATCH_BYTES, HeavyLane};
use super::loading::RoomClock;
use super::owner::{OwnerSettings, RoomOwner};
use super::storage::{PersistTicket, Storage, StorageError};
use crate::close_code;
use crate::cluster::{Cluster, PeerEvent, Subscription};
use crate::telemetry;

/// Most commands handed to the owner as one batch, bounding the latency a batch adds.
const MAX_BATCH_COMMANDS: usize = 64;

/// What a room task is given.
pub(crate) struct RoomContext {
    pub(crate) name: Arc<str>,
    pub(crate) storage: Storage,
    /// Where large batches are handled (see [`super::heavy_lane`]).
    pub(crate) heavy_lane: HeavyLane,
    pub(crate) settings: OwnerSettings,
    /// What the room publishes for listings.
    pub(crate) status: Arc<RoomStatus>,
    /// How it leaves the registry.
    pub(crate) retirement: Retirement,
    /// The other nodes sharing the document, with `--cluster`.
    pub(crate) cluster: Option<Cluster>,
}

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A persist in flight: its batch, and its outcome to come.
type PersistInFlight = (
    BatchId,
    Pending<Result<Option<AppendReceipt>, StorageError>>,
);

/// The room's work in flight with storage.
#[derive(Default)]
struct InFlight {
    /// Persists, oldest first: they complete in this order.
    persists: VecDeque<PersistInFlight>,
    load: Option<Pending<Result<LoadedDoc, StorageError>>>,
    compaction: Option<Pending<Result<(), StorageError>>>,
    deletion: Option<Pending<Result<bool, StorageError>>>,
    /// A read of the store for what the cluster link did not bring (`None`: nothing new).
    catch_up: Option<Pending<Result<Option<LoadedDoc>, StorageError>>>,
}

/// Runs a room until its owner is done: retired, deleted or unable to load.
///
/// A panic inside (yrs has panicked on input the server accepted) ends this room alone: its
/// connections see their queues close and are closed with 1011, whatever waits for it is
/// refused, and it leaves the registry, so the next join loads the document afresh from
/// storage, where only what was durable is.
pub(crate) async fn run_room(context: RoomContext, mut commands: CommandReceiver<QueuedCommand>) {
    let served = AssertUnwindSafe(serve_room(&context, &mut commands))
        .catch_unwind()
        .await;
    if served.is_err() {
        error!(room = %context.name, "the room failed: its clients are closed and it is unloaded");
        context.retirement.remove(&mut commands);
        let reason = CloseReason::new(close_code::INTERNAL_ERROR, "the room failed");
        while let Some(command) = commands.try_recv() {
            command.refuse(&reason);
        }
    }
}

async fn serve_room(context: &RoomContext, commands: &mut CommandReceiver<QueuedCommand>) {
    let loaded_rooms = metrics::gauge!(telemetry::ROOMS_LOADED);
    let mut owner = RoomOwner::new(
        context.name.clone(),
        context.settings.clone(),
        RoomClock(Arc::new(SystemClock)),
        now(),
    );
    let mut room = RoomIo {
        context,
        outboxes: HashMap::new(),
        in_flight: InFlight::default(),
        awake: false,
        loaded_rooms,
        fan_out: metrics::histogram!(telemetry::BROADCAST_FANOUT),
        last_sent: None,
        subscription: None,
    };
    let mut batch = Vec::new();
    loop {
        room.carry_out(&mut owner, commands).await;
        context
            .status
            .clients
            .store(owner.connection_count(), Ordering::Relaxed);
        if owner.is_finished() {
            break;
        }
        let deadline = owner.poll_timeout().map(tokio::time::Instant::from_std);
        let in_flight = &mut room.in_flight;
        tokio::select! {
            received = commands.recv_many(&mut batch, MAX_BATCH_COMMANDS), if owner.wants_commands() => {
                let now = now();
                if received == 0 {
                    // Only the room closes its queue, and then it no longer asks for commands.
                    break;
                }
                let payload: usize = batch.iter().map(|command| command.payload_bytes()).sum();
                if payload >= HEAVY_BATCH_BYTES {
                    let taken = std::mem::take(&mut batch);
                    (owner, batch) = on_heavy_lane(&context.heavy_lane, owner, taken, now).await;
                } else {
                    handle_batch(&mut owner, &mut batch, now);
                }
            }
            outcome = next_persist(&mut in_flight.persists), if !in_flight.persists.is_empty() => {
                let (batch, outcome) = outcome;
                owner.handle_persisted(batch, outcome.map_err(|error| error.to_string()), now());
            }
            loaded = poll_slot(&mut in_flight.load), if in_flight.load.is_some() => {
                owner.handle_loaded(loaded.map_err(|error| error.to_string()), now());
            }
            compacted = poll_slot(&mut in_flight.compaction), if in_flight.compaction.is_some() => {
                owner.handle_compacted(compacted.map_err(|error| error.to_string()), now());
            }
            deleted = poll_slot(&mut in_flight.deletion), if in_flight.deletion.is_some() => {
                owner.handle_deleted(deleted.map_err(|error| error.to_string()));
            }
            caught_up = poll_slot(&mut in_flight.catch_up), if in_flight.catch_up.is_some() => {
                owner.handle_caught_up(caught_up.map_err(|error| error.to_string()), now());
            }
            Some(event) = next_peer_event(&mut room.subscription), if room.subscription.is_some() => {
                let now = now();
                owner.handle_command(RoomCommand::Peer(event), now);
                if room.subscription.as_ref().is_some_and(Subscription::take_missed) {
                    owner.handle_command(RoomCommand::Peer(PeerEvent::Resync), now);
                }
            }
            // Joiners of a room loaded unapplied are owed its SyncStep1; that waits until
            // nothing else does, after the answers they were waiting for went out.
            () = std::future::ready(()), if owner.has_idle_work() && commands.is_empty() => {
                owner.handle_idle(now());
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                owner.handle_timeout(now());
            }
        }
    }
    if room.awake {
        room.loaded_rooms.decrement(1.0);
    }
    debug!(room = %context.name, "room released from memory");
}

/// Hands the owner and a batch to the heavy lane; both come back once handled. Boxed, so that
/// the work's state (the owner among it) is not laid out in every room task's future, idle ones
/// included: the await point still costs each task 128 bytes (1,408 -> 1,536), measured with
/// `size_of_val`.
fn on_heavy_lane(
    lane: &HeavyLane,
    mut owner: RoomOwner,
    mut batch: Vec<QueuedCommand>,
    now: Instant,
) -> Pending<(RoomOwner, Vec<QueuedCommand>)> {
    let lane = lane.clone();
    Box::pin(async move {
        lane.run(move || {
            handle_batch(&mut owner, &mut batch, now);
            (owner, batch)
        })
        .await
    })
}

/// Hands the owner a batch of commands, emptying `batch` (its capacity is kept for the next).
fn handle_batch(owner: &mut RoomOwner, batch: &mut Vec<QueuedCommand>, now: Instant) {
    for command in batch.drain(..) {
        owner.handle_command(*command, now);
    }
    owner.handle_batch_end(now);
}

/// Now, as tokio's clock tells it (which tests may pause).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn next_persist(
    persists: &mut VecDeque<PersistInFlight>,
) -> (BatchId, Result<Option<AppendReceipt>, StorageError>) {
    let (batch, pending) = persists.front_mut().expect("polled only when not empty");
    let batch = *batch;
    let outcome = pending.await;
    persists.pop_front();
    (batch, outcome)
}

/// The next event of the room's subscription (polled only when it has one).
async fn next_peer_event(subscription: &mut Option<Subscription>) -> Option<PeerEvent> {
    subscription
        .as_mut()
        .expect("polled only when subscribed")
        .events
        .recv()
        .await
}

async fn poll_slot<T>(slot: &mut Option<Pending<T>>) -> T {
    let outcome = slot.as_mut().expect("polled only when set").await;
    *slot = None;
    outcome
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The I/O a room's owner decides.
struct RoomIo<'a> {
    context: &'a RoomContext,
    outboxes: HashMap<ConnectionId, ConnectionOutbox>,
    in_flight: InFlight,
    /// Whether the document is in memory (for the loaded-rooms gauge).
    awake: bool,
    loaded_rooms: metrics::Gauge,
    /// Looked up once per room: a registry look-up per broadcast showed in W1's profile.
    fan_out: metrics::Histogram,
    /// The last large frame sent to a single connection. Joiners of an unchanged document are
    /// each sent the same full-state bytes; through this they share one compressed form. Let go
    /// of when the document changes (a persist) or sleeps, so it outlives no cached frame.
    /// Boxed: every room's task keeps this field, and few rooms ever fill it.
    last_sent: Option<Box<SharedMessage>>,
    /// The document's channel among the nodes, with a cluster: taken before the first load,
    /// kept until the room ends (dropping it unsubscribes).
    subscription: Option<Subscription>,
}

impl RoomIo<'_> {
    /// Carries out every effect the owner has decided, feeding back what it learns at once.
    async fn carry_out(
        &mut self,
        owner: &mut RoomOwner,
        commands: &mut CommandReceiver<QueuedCommand>,
    ) {
        while let Some(effect) = owner.poll_effect() {
            match effect {
                Effect::Load => self.load(),
                Effect::Persist { batch, updates } => {
                    // The document changed: the full-state frame joiners were sent is outdated.
                    self.last_sent = None;
                    let ticket = self
                        .context
                        .storage
                        .submit(self.context.name.clone(), updates)
                        .await;
                    self.in_flight
                        .persists
                        .push_back((batch, Box::pin(PersistTicket::outcome(ticket))));
                }
                Effect::Admit {
                    connection,
                    outbox,
                    joined,
                } => {
                    if joined.send(Ok(connection)).is_ok() {
                        self.outboxes.insert(connection, outbox);
                    } else {
                        // The joiner gave up waiting: it leaves at once.
                        owner.handle_command(RoomCommand::Leave(Leave { connection }), now());
                        owner.handle_batch_end(now());
                    }
                }
                Effect::Send { to, frame } => {
                    let message = self.shared_with_last(frame);
                    self.send(owner, to, message);
                }
                Effect::Broadcast { except, frame } => {
                    let recipients: Vec<ConnectionId> = self
                        .outboxes
                        .keys()
                        .copied()
                        .filter(|connection| Some(*connection) != except)
                        .collect();
                    self.fan_out.record(recipients.len() as f64);
                    let message = SharedMessage::new(frame);
                    for connection in recipients {
                        self.send(owner, connection, message.clone());
                    }
                }
                Effect::Relay { from, frame } => {
                    let recipients: Vec<ConnectionId> = self
                        .outboxes
                        .iter()
                        .filter(|(connection, outbox)| {
                            **connection != from && outbox.receives_relays
                        })
                        .map(|(connection, _)| *connection)
                        .collect();
                    let message = SharedMessage::new(frame);
                    for connection in recipients {
                        self.send(owner, connection, message.clone());
                    }
                }
                Effect::Close { connection, reason } => {
                    if let Some(outbox) = self.outboxes.remove(&connection) {
                        let _ = outbox.close.send(reason);
                    }
                }
                Effect::Answer(answer) => answer.send(),
                Effect::Compact { snapshot, through } => {
                    let storage = self.context.storage.clone();
                    let name = self.context.name.clone();
                    self.in_flight.compaction = Some(Box::pin(async move {
                        storage.compact(name, snapshot, through).await
                    }));
                }
                Effect::CreateVersion {
                    label,
                    snapshot,
                    reply,
                } => {
                    let storage = self.context.storage.clone();
                    let name = self.context.name.clone();
                    // Answered by its own task: the room has nothing to decide about it.
                    tokio::spawn(async move {
                        let created =
                            storage
                                .create_version(name, label, snapshot)
                                .await
                                .map_err(|error| match error {
                                    StorageError::Store(error) => VersionError::Store(error),
                                    other => VersionError::Unavailable(other.to_string()),
                                });
                        let _ = reply.send(created);
                    });
                }
                Effect::Delete => {
                    let storage = self.context.storage.clone();
                    let name = self.context.name.clone();
                    self.in_flight.deletion =
                        Some(Box::pin(async move { storage.delete(name).await }));
                }
                Effect::Publish(announcement) => {
                    if let Some(cluster) = &self.context.cluster {
                        cluster.publish(&self.context.name, announcement);
                    }
                }
                Effect::CatchUp { held } => {
                    let storage = self.context.storage.clone();
                    let name = self.context.name.clone();
                    self.in_flight.catch_up = Some(Box::pin(async move {
                        if let Some(held) = held
                            && let Some(meta) = storage.metadata(name.to_string()).await?
                            && meta.last_seq == held
                        {
                            return Ok(None);
                        }
                        storage.load_committed(name).await.map(Some)
                    }));
                }
                Effect::Sleep => {
                    self.last_sent = None;
                    self.set_awake(false);
                }
                Effect::Wake => {}
                Effect::Retire => {
                    if self.context.retirement.retire_if_idle(commands) {
                        owner.handle_retired();
                        // Commands that slipped in meanwhile are still owed an answer.
                        let now = now();
                        while let Some(command) = commands.try_recv() {
                            owner.handle_command(*command, now);
                        }
                        owner.handle_batch_end(now);
                    } else {
                        owner.handle_retire_declined();
                    }
                }
                Effect::Remove { reason } => {
                    self.context.retirement.remove(commands);
                    for (_, outbox) in self.outboxes.drain() {
                        let _ = outbox.close.send(reason.clone());
                    }
                    while let Some(command) = commands.try_recv() {
                        command.refuse(&reason);
                    }
                }
            }
            self.set_awake(owner.is_awake());
        }
    }

    /// Loads the document; with a cluster, subscribed to its channel first (once), so that
    /// whatever another node stores after the load is also published to this room.
    fn load(&mut self) {
        let storage = self.context.storage.clone();
        let name = self.context.name.clone();
        let mut confirmation = None;
        if let Some(cluster) = &self.context.cluster
            && self.subscription.is_none()
        {
            let subscription = self.subscription.insert(cluster.subscribe(name.clone()));
            confirmation = subscription.take_confirmation();
        }
        self.in_flight.load = Some(Box::pin(async move {
            if let Some(confirmation) = confirmation {
                // A link that stopped answers nothing; the room goes on without it.
                let _ = confirmation.await;
            }
            storage.load(name).await
        }));
    }

    fn set_awake(&mut self, awake: bool) {
        if awake != self.awake {
            self.awake = awake;
            if awake {
                self.loaded_rooms.increment(1.0);
            } else {
                self.loaded_rooms.decrement(1.0);
            }
        }
        let asleep = !awake && !self.outboxes.is_empty();
        let was_asleep = self.context.status.asleep.swap(asleep, Ordering::Relaxed);
        if asleep != was_asleep {
            let sleeping = metrics::gauge!(telemetry::ROOMS_ASLEEP);
            if asleep {
                sleeping.increment(1.0);
            } else {
                sleeping.decrement(1.0);
            }
        }
    }

    /// `frame` as a message to one connection, sharing the last one's compressed form when it
    /// is the very same bytes (see `last_sent`).
    fn shared_with_last(&mut self, frame: Bytes) -> SharedMessage {
        if frame.len() < COMPRESSION_THRESHOLD {
            return SharedMessage::new(frame);
        }
        if let Some(last) = &self.last_sent
            && last.holds(&frame)
        {
            return SharedMessage::clone(last);
        }
        let message = SharedMessage::new(frame);
        self.last_sent = Some(Box::new(message.clone()));
        message
    }

    /// Queues `frame` for `connection` without waiting; a full queue is the owner's to judge.
    fn send(&mut self, owner: &mut RoomOwner, connection: ConnectionId, frame: SharedMessage) {
        let Some(outbox) = self.outboxes.get(&connection) else {
            return;
        };
        match outbox.frames.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => owner.handle_undeliverable(connection, now()),
            // The connection is on its way out; its Leave command follows.
            Err(TrySendError::Closed(_)) => {}
        }
    }
}
