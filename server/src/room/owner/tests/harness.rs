//! A simulated task around one [`RoomOwner`]: a store whose persists complete (or fail) only
//! when a test says so, a manual clock, and clients that are real Yjs clients (crdt-core's
//! `SyncClient`) behind real frame queues. It carries out effects exactly as the room task
//! does, and records what every client was sent, so tests can ask what was visible when.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crdt_core::ConnectionId;
use crdt_core::clock::ManualClock;
use crdt_core::wire::FrameLimits;
use storage::{DocStore, LoadedDoc, MemoryStore, Seq};
use tokio::sync::oneshot;

use super::super::super::command::{CloseReason, ConnectionOutbox, RoomCommand};
use super::super::super::effect::{BatchId, Effect};
use super::super::super::loading::RoomClock;
use super::super::super::storage_health::StorageHealth;
use super::super::{OwnerSettings, RoomOwner};
use crate::cluster::{Announcement, PeerEvent};

/// The document's text root in these tests.
pub(super) const TEXT: &str = "text";

/// What the harness saw the owner do, in order (for assertions about ordering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seen {
    Persist(BatchId),
    Delivered(ConnectionId),
    Closed(ConnectionId, u16),
    Compact(Seq),
    Sleep,
    Wake,
    Retire,
    Removed,
    Deleted,
}

pub(super) struct Harness {
    pub(super) owner: RoomOwner,
    /// What the owner knows of storage; tests put it out of space.
    pub(super) storage_health: Arc<StorageHealth>,
    pub(super) now: Instant,
    pub(super) clock: ManualClock,
    /// The durable image: only completed persists and compactions reach it. Shared by the
    /// rooms of simulated nodes of one cluster.
    pub(super) store: Arc<MemoryStore>,
    /// What the owner published to the other nodes, oldest first (taken by the tests).
    pub(super) published: Vec<Announcement>,
    /// A read of the store asked for, and the last seq it may skip it at.
    pending_catch_up: Option<Option<Seq>>,
    pub(super) name: Arc<str>,
    pending_persists: VecDeque<(BatchId, Vec<Bytes>)>,
    pending_compaction: Option<(Vec<u8>, Seq)>,
    pending_load: bool,
    pending_delete: bool,
    /// Loads complete as soon as asked unless this is set.
    pub(super) hold_loads: bool,
    /// A `Retire` finds a command waiting (the race with a joiner).
    pub(super) command_waiting_at_retire: bool,
    outboxes: BTreeMap<ConnectionId, ConnectionOutbox>,
    pub(super) peers: BTreeMap<ConnectionId, Peer>,
    /// Joiners whose admission waits behind a persist.
    pub(super) joining: Vec<(oneshot::Receiver<Result<ConnectionId, CloseReason>>, Peer)>,
    pub(super) seen: Vec<Seen>,
    pub(super) queue_frames: usize,
}

pub(super) use super::peers::Peer;

impl Harness {
    /// A room over an empty store, loaded, with `idle` as `--document-idle-seconds`.
    pub(super) fn new(idle: Option<Duration>) -> Self {
        Self::over(MemoryStore::new(), idle)
    }

    /// A room over `store`.
    pub(super) fn over(store: MemoryStore, idle: Option<Duration>) -> Self {
        Self::build(Arc::new(store), idle, false, false)
    }

    /// A room over an empty store whose first load waits for the test.
    pub(super) fn loading() -> Self {
        Self::build(Arc::new(MemoryStore::new()), None, true, false)
    }

    /// The room of one node of a cluster, over the store the nodes share; its load waits for
    /// the test when `hold_loads`.
    pub(super) fn clustered(store: Arc<MemoryStore>, hold_loads: bool) -> Self {
        Self::build(store, None, hold_loads, true)
    }

    /// Like [`Harness::clustered`], loaded at once, with `idle` as `--document-idle-seconds`.
    pub(super) fn clustered_idle(store: Arc<MemoryStore>, idle: Duration) -> Self {
        Self::build(store, Some(idle), false, true)
    }

    fn build(
        store: Arc<MemoryStore>,
        idle: Option<Duration>,
        hold_loads: bool,
        clustered: bool,
    ) -> Self {
        let now = Instant::now();
        let clock = ManualClock::starting_at(1_000_000);
        let name: Arc<str> = Arc::from("doc");
        let storage_health = Arc::new(StorageHealth::new(1));
        let settings = OwnerSettings {
            max_document_bytes: 1 << 30,
            idle_document_after: idle,
            frame_limits: FrameLimits::default(),
            storage_health: storage_health.clone(),
            clustered,
        };
        let owner = RoomOwner::new(
            name.clone(),
            settings,
            RoomClock(Arc::new(clock.clone())),
            now,
        );
        let mut harness = Harness {
            owner,
            storage_health,
            now,
            clock,
            store,
            name,
            published: Vec::new(),
            pending_catch_up: None,
            pending_persists: VecDeque::new(),
            pending_compaction: None,
            pending_load: false,
            pending_delete: false,
            hold_loads,
            command_waiting_at_retire: false,
            outboxes: BTreeMap::new(),
            peers: BTreeMap::new(),
            joining: Vec::new(),
            seen: Vec::new(),
            queue_frames: 1024,
        };
        harness.run();
        harness
    }

    /// Carries out every effect, as the room task does; completes a load unless held.
    pub(super) fn run(&mut self) {
        loop {
            while let Some(effect) = self.owner.poll_effect() {
                self.carry_out(effect);
            }
            if self.pending_load && !self.hold_loads {
                self.complete_load();
                continue;
            }
            break;
        }
    }

    fn carry_out(&mut self, effect: Effect) {
        match effect {
            Effect::Load => self.pending_load = true,
            Effect::Persist { batch, updates } => {
                self.seen.push(Seen::Persist(batch));
                self.pending_persists.push_back((batch, updates));
            }
            Effect::Admit {
                connection,
                outbox,
                joined,
            } => {
                if joined.send(Ok(connection)).is_ok() {
                    self.outboxes.insert(connection, outbox);
                }
            }
            Effect::Send { to, frame } => self.deliver(to, frame),
            Effect::Broadcast { except, frame } => {
                let to: Vec<ConnectionId> = self.outboxes.keys().copied().collect();
                for connection in to.into_iter().filter(|c| Some(*c) != except) {
                    self.deliver(connection, frame.clone());
                }
            }
            Effect::Relay { from, frame } => {
                let to: Vec<ConnectionId> = self.outboxes.keys().copied().collect();
                for connection in to.into_iter().filter(|c| *c != from) {
                    if self.outboxes[&connection].receives_relays {
                        self.deliver(connection, frame.clone());
                    }
                }
            }
            Effect::Close { connection, reason } => {
                self.seen.push(Seen::Closed(connection, reason.code));
                if let Some(outbox) = self.outboxes.remove(&connection) {
                    let _ = outbox.close.send(reason);
                }
            }
            Effect::Answer(answer) => answer.send(),
            Effect::Compact { snapshot, through } => {
                self.seen.push(Seen::Compact(through));
                self.pending_compaction = Some((snapshot, through));
            }
            Effect::CreateVersion {
                label,
                snapshot,
                reply,
            } => {
                let created = self.store.create_version(&self.name, &label, &snapshot);
                let _ = reply.send(created.map_err(Into::into));
            }
            Effect::Delete => self.pending_delete = true,
            Effect::Publish(announcement) => self.published.push(announcement),
            Effect::CatchUp { held } => self.pending_catch_up = Some(held),
            Effect::Sleep => self.seen.push(Seen::Sleep),
            Effect::Wake => self.seen.push(Seen::Wake),
            Effect::Retire => {
                self.seen.push(Seen::Retire);
                if self.command_waiting_at_retire {
                    self.command_waiting_at_retire = false;
                    self.owner.handle_retire_declined();
                } else {
                    self.owner.handle_retired();
                }
            }
            Effect::Remove { reason } => {
                self.seen.push(Seen::Removed);
                for (_, outbox) in std::mem::take(&mut self.outboxes) {
                    let _ = outbox.close.send(reason.clone());
                }
            }
        }
    }

    fn deliver(&mut self, connection: ConnectionId, frame: Bytes) {
        let Some(outbox) = self.outboxes.get(&connection) else {
            return;
        };
        match outbox
            .frames
            .try_send(websocket_deflate::SharedMessage::new(frame))
        {
            Ok(()) => self.seen.push(Seen::Delivered(connection)),
            Err(_) => self.owner.handle_undeliverable(connection, self.now),
        }
    }

    pub(super) fn complete_load(&mut self) {
        self.pending_load = false;
        let loaded = self
            .store
            .load(&self.name)
            .map_err(|error| error.to_string());
        self.owner.handle_loaded(loaded, self.now);
        self.run();
    }

    /// Whether the owner asked to read the store for what it missed, and has no answer yet.
    pub(super) fn catch_up_pending(&self) -> bool {
        self.pending_catch_up.is_some()
    }

    /// The last seq the pending read of the store may be skipped at (`None`: it reads whatever).
    pub(super) fn catch_up_skippable_at(&self) -> Option<Seq> {
        self.pending_catch_up.flatten()
    }

    /// Answers the owner's read of the store with what the store holds now, as the room task
    /// does: nothing when the document's last seq is the one the room held.
    pub(super) fn complete_catch_up(&mut self) {
        let loaded = self.read_for_catch_up();
        self.deliver_catch_up(loaded);
    }

    /// Reads the store for the owner's pending read, without answering it yet (a read that is
    /// slow to come back).
    pub(super) fn read_for_catch_up(&mut self) -> Result<Option<LoadedDoc>, String> {
        let held = self
            .pending_catch_up
            .take()
            .expect("a read of the store was asked for");
        let last_seq = self
            .store
            .metadata(&self.name)
            .ok()
            .flatten()
            .map(|meta| meta.last_seq);
        if held.is_some() && last_seq == held {
            Ok(None)
        } else {
            self.store
                .load_committed(&self.name)
                .map(Some)
                .map_err(|error| error.to_string())
        }
    }

    /// Answers the owner's read with `loaded`, read earlier.
    pub(super) fn deliver_catch_up(&mut self, loaded: Result<Option<LoadedDoc>, String>) {
        self.owner.handle_caught_up(loaded, self.now);
        self.run();
    }

    /// Hands the owner `event` from the cluster link, as one batch.
    pub(super) fn peer_event(&mut self, event: PeerEvent) {
        self.owner
            .handle_command(RoomCommand::Peer(event), self.now);
        self.run();
    }

    pub(super) fn fail_load(&mut self) {
        self.pending_load = false;
        self.owner
            .handle_loaded(Err("disk on fire".to_owned()), self.now);
        self.run();
    }

    /// Persists waiting for the store.
    pub(super) fn persists_pending(&self) -> usize {
        self.pending_persists.len()
    }

    /// Makes the oldest pending persist durable.
    pub(super) fn complete_persist(&mut self) {
        let (batch, updates) = self
            .pending_persists
            .pop_front()
            .expect("a pending persist");
        let mut receipt = None;
        for update in &updates {
            receipt = Some(
                self.store
                    .append(&self.name, update)
                    .expect("the store appends"),
            );
        }
        self.store.flush().expect("the store flushes");
        self.owner.handle_persisted(batch, Ok(receipt), self.now);
        self.run();
    }

    /// Completes every pending persist, and those they lead to.
    pub(super) fn complete_persists(&mut self) {
        while !self.pending_persists.is_empty() {
            self.complete_persist();
        }
    }

    /// Fails the oldest pending persist: nothing of it reaches the store.
    pub(super) fn fail_persist(&mut self) {
        let (batch, _) = self
            .pending_persists
            .pop_front()
            .expect("a pending persist");
        self.owner
            .handle_persisted(batch, Err("no space left on device".to_owned()), self.now);
        self.run();
    }

    pub(super) fn complete_compaction(&mut self) {
        let (snapshot, through) = self.pending_compaction.take().expect("a compaction");
        let compacted = self
            .store
            .compact(&self.name, &snapshot, through)
            .map_err(|error| error.to_string());
        self.owner.handle_compacted(compacted, self.now);
        self.run();
    }

    pub(super) fn compaction_pending(&self) -> bool {
        self.pending_compaction.is_some()
    }

    pub(super) fn complete_delete(&mut self) {
        assert!(self.pending_delete, "a delete was asked for");
        self.pending_delete = false;
        let deleted = self
            .store
            .delete(&self.name)
            .map_err(|error| error.to_string());
        self.seen.push(Seen::Deleted);
        self.owner.handle_deleted(deleted);
        self.run();
    }

    /// Hands `command` to the owner as a batch of its own.
    pub(super) fn command(&mut self, command: RoomCommand) {
        self.commands(vec![command]);
    }

    /// Hands `commands` to the owner as one batch.
    pub(super) fn commands(&mut self, commands: Vec<RoomCommand>) {
        for command in commands {
            self.owner.handle_command(command, self.now);
        }
        self.owner.handle_batch_end(self.now);
        self.run();
    }

    /// Moves time forward and lets the owner act on it.
    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.clock.advance(by.as_millis() as u64);
        if self
            .owner
            .poll_timeout()
            .is_some_and(|deadline| deadline <= self.now)
        {
            self.owner.handle_timeout(self.now);
        }
        self.run();
    }
}
