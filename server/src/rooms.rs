//! The registry of rooms in memory: one owner task per room, found by name.
//!
//! Each room is owned by exactly one task (see [`crate::room_task`]); everyone else talks to it
//! through a bounded command queue. The registry's std `Mutex` is held only for map look-ups,
//! never across an `.await`. A room whose last client leaves retires itself under that lock,
//! and a client that raced it simply joins a fresh room task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use crdt_core::{Access, ConnectionId, Room};
use tokio::sync::{oneshot, watch};
use tokio_util::task::TaskTracker;

use crate::command_queue::{Closed, CommandReceiver, CommandSender, command_queue};
use crate::config::ServeConfig;
use crate::frame_queue::{FrameReceiver, frame_queue};
use crate::persistence::Persistence;
use crate::room_command::{
    CloseReason, ConnectionOutbox, DocumentEdit, EditError, QueuedCommand, RoomCommand,
};
use crate::room_task::{RoomContext, run_room};
use crate::telemetry;

/// How many commands may wait for a room before senders wait: enough to absorb bursts, small
/// enough that a flooding client feels back-pressure on its own socket.
const ROOM_QUEUE_COMMANDS: usize = 256;

/// How often a join may lose the race against a retiring room before giving up.
const JOIN_ATTEMPTS: usize = 8;

/// A connection's place in a room, and where the room's frames for it arrive.
pub struct Membership {
    /// Commands to the room.
    pub room: RoomHandle,
    /// This connection's id within the room.
    pub connection: ConnectionId,
    /// Frames to send to the client, in order.
    pub frames: FrameReceiver,
    /// Set when the room wants this connection closed.
    pub close: oneshot::Receiver<CloseReason>,
}

/// The room could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Every attempt met a room that was retiring or had stopped.
    #[error("room {0:?} did not accept the connection")]
    RoomUnavailable(String),
    /// As many rooms as `--max-rooms` allows are in memory.
    #[error("the server holds its limit of {0} documents in memory")]
    TooManyRooms(usize),
    /// The room refused the connection (for example, its document could not be loaded).
    #[error("refused: {}", .0.reason)]
    Refused(CloseReason),
}

impl JoinError {
    /// The `reason` label a refused join is counted under in `quire_refused_total`.
    pub fn refusal_reason(&self) -> &'static str {
        match self {
            JoinError::RoomUnavailable(_) => "room_unavailable",
            JoinError::TooManyRooms(_) => "too_many_rooms",
            JoinError::Refused(_) => "document_unavailable",
        }
    }
}

/// Sends commands to one room's task.
#[derive(Clone)]
pub struct RoomHandle {
    commands: CommandSender<QueuedCommand>,
}

impl RoomHandle {
    /// Hands a frame from `connection` to the room; false when the room is gone.
    pub async fn send_frame(&self, connection: ConnectionId, frame: Bytes) -> bool {
        self.send(RoomCommand::Frame {
            connection,
            frame,
            receipt: None,
        })
        .await
    }

    /// Hands a frame from `connection` to the room, which queues `receipt` back to the connection
    /// once everything the frame changed is durable; false when the room is gone.
    pub async fn send_frame_with_receipt(
        &self,
        connection: ConnectionId,
        frame: Bytes,
        receipt: Bytes,
    ) -> bool {
        self.send(RoomCommand::Frame {
            connection,
            frame,
            receipt: Some(receipt),
        })
        .await
    }

    /// Relays `frame` from `connection` to the room's other connections that receive relays;
    /// false when the room is gone.
    pub async fn relay(&self, connection: ConnectionId, frame: Bytes) -> bool {
        self.send(RoomCommand::Relay { connection, frame }).await
    }

    async fn send(&self, command: RoomCommand) -> bool {
        self.commands.send(Box::new(command)).await.is_ok()
    }

    /// Tells the room `connection` left.
    pub async fn leave(&self, connection: ConnectionId) {
        let _ = self
            .commands
            .send(Box::new(RoomCommand::Leave { connection }))
            .await;
    }
}

/// Every room currently in memory.
#[derive(Clone)]
pub struct RoomRegistry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    rooms: Mutex<HashMap<String, RoomEntry>>,
    /// How many rooms are in memory, for whoever needs to await a change (tests, readiness).
    loaded: watch::Sender<usize>,
    next_generation: AtomicU64,
    tracker: TaskTracker,
    persistence: Persistence,
    client_queue_frames: usize,
    max_rooms: usize,
    max_document_bytes: u64,
    frame_limits: crdt_core::wire::FrameLimits,
    idle_document_after: Option<std::time::Duration>,
}

struct RoomEntry {
    generation: u64,
    commands: CommandSender<QueuedCommand>,
    status: Arc<RoomStatus>,
}

/// What a room task publishes about itself for listings, without a round trip to it.
#[derive(Default)]
pub(crate) struct RoomStatus {
    /// Connected clients.
    pub(crate) clients: AtomicUsize,
    /// Whether its document is let go of while idle (see [`crate::room_sleep`]).
    pub(crate) asleep: AtomicBool,
}

impl RoomRegistry {
    /// An empty registry whose rooms persist through `persistence` and whose tasks are tracked
    /// by `tracker`.
    pub fn new(config: &ServeConfig, persistence: Persistence, tracker: TaskTracker) -> Self {
        RoomRegistry {
            inner: Arc::new(RegistryInner {
                rooms: Mutex::new(HashMap::new()),
                loaded: watch::Sender::new(0),
                next_generation: AtomicU64::new(0),
                tracker,
                persistence,
                client_queue_frames: config.client_queue_frames.max(1),
                max_rooms: config.max_rooms.max(1),
                max_document_bytes: config.max_document_bytes as u64,
                frame_limits: config.frame_limits(),
                idle_document_after: config.document_idle(),
            }),
        }
    }

    /// How many rooms are in memory.
    pub fn loaded_rooms(&self) -> usize {
        self.lock_rooms().len()
    }

    /// How many clients are connected to room `name` (0 when it is not in memory).
    pub fn clients(&self, name: &str) -> usize {
        self.lock_rooms()
            .get(name)
            .map_or(0, |entry| entry.status.clients.load(Ordering::Relaxed))
    }

    /// Whether room `name`'s document is in memory now (not when nobody is connected, nor while
    /// it sleeps).
    pub fn document_in_memory(&self, name: &str) -> bool {
        self.lock_rooms()
            .get(name)
            .is_some_and(|entry| !entry.status.asleep.load(Ordering::Relaxed))
    }

    /// Runs `read` on room `name`'s document (loading it if needed) and returns its result.
    pub async fn read<T: Send + 'static>(
        &self,
        name: &str,
        read: impl FnOnce(&Room) -> T + Send + 'static,
    ) -> Result<T, JoinError> {
        let (answer, answered) = oneshot::channel();
        let command = RoomCommand::Read(Box::new(move |room: &Room| {
            let _ = answer.send(read(room));
        }));
        self.send_command(name, command).await?;
        answered
            .await
            .map_err(|_| JoinError::RoomUnavailable(name.to_owned()))
    }

    /// Changes room `name`'s document with `edit`; returns once the change is durable and sent
    /// to the room's clients, with whether it changed anything.
    pub async fn edit(&self, name: &str, edit: DocumentEdit) -> Result<bool, EditError> {
        let (done, answered) = oneshot::channel();
        let command = RoomCommand::Edit { edit, done };
        let unavailable = || EditError::Storage(format!("room {name:?} is unavailable"));
        self.send_command(name, command)
            .await
            .map_err(|_| unavailable())?;
        answered.await.map_err(|_| unavailable())?
    }

    /// Deletes room `name`'s document, closing its clients; whether it existed.
    pub async fn delete(&self, name: &str) -> Result<bool, String> {
        let (done, answered) = oneshot::channel();
        self.send_command(name, RoomCommand::Delete { done })
            .await
            .map_err(|error| error.to_string())?;
        answered
            .await
            .map_err(|_| format!("room {name:?} is unavailable"))?
    }

    async fn send_command(&self, name: &str, mut command: RoomCommand) -> Result<(), JoinError> {
        for _ in 0..JOIN_ATTEMPTS {
            let commands = self.room_commands(name)?.0;
            match commands.send(Box::new(command)).await {
                Ok(()) => return Ok(()),
                Err(Closed(returned)) => command = *returned,
            }
        }
        Err(JoinError::RoomUnavailable(name.to_owned()))
    }

    /// Follows the number of rooms in memory as rooms load and unload.
    pub fn watch_loaded_rooms(&self) -> watch::Receiver<usize> {
        self.inner.loaded.subscribe()
    }

    /// Joins room `name` with `access`, starting its task if it is not in memory.
    pub async fn join(&self, name: &str, access: Access) -> Result<Membership, JoinError> {
        self.join_with(name, access, false).await
    }

    /// Like [`RoomRegistry::join`], for a connection that also receives the frames other
    /// connections relay ([`RoomHandle::relay`]).
    pub async fn join_receiving_relays(
        &self,
        name: &str,
        access: Access,
    ) -> Result<Membership, JoinError> {
        self.join_with(name, access, true).await
    }

    async fn join_with(
        &self,
        name: &str,
        access: Access,
        receives_relays: bool,
    ) -> Result<Membership, JoinError> {
        let joined = self.try_join(name, access, receives_relays).await;
        if let Err(error) = &joined {
            telemetry::record_refusal(error.refusal_reason());
        }
        joined
    }

    async fn try_join(
        &self,
        name: &str,
        access: Access,
        receives_relays: bool,
    ) -> Result<Membership, JoinError> {
        for _ in 0..JOIN_ATTEMPTS {
            let commands = self.room_commands(name)?.0;
            let (frames_sender, frames) = frame_queue(self.inner.client_queue_frames);
            let (close_sender, close) = oneshot::channel();
            let (joined_sender, joined) = oneshot::channel();
            let mut outbox = ConnectionOutbox::new(frames_sender, close_sender);
            if receives_relays {
                outbox = outbox.receiving_relays();
            }
            let join = RoomCommand::Join {
                access,
                outbox,
                joined: joined_sender,
            };
            if commands.send(Box::new(join)).await.is_err() {
                continue;
            }
            // A room that retires with our join still queued drops it: try a fresh room.
            match joined.await {
                Ok(Ok(connection)) => {
                    return Ok(Membership {
                        room: RoomHandle { commands },
                        connection,
                        frames,
                        close,
                    });
                }
                Ok(Err(reason)) => return Err(JoinError::Refused(reason)),
                Err(_) => continue,
            }
        }
        Err(JoinError::RoomUnavailable(name.to_owned()))
    }

    /// Removes room `name` (generation `generation`) if no command is waiting for it, closing
    /// its queue so late senders go to a fresh room. True when the room may stop.
    pub(crate) fn retire(
        &self,
        name: &str,
        generation: u64,
        commands: &mut CommandReceiver<QueuedCommand>,
    ) -> bool {
        let rooms = self.lock_rooms();
        if !commands.is_empty() {
            return false;
        }
        drop(rooms);
        self.remove(name, generation, commands);
        true
    }

    /// Removes room `name` (generation `generation`) whatever is waiting, closing its queue.
    pub(crate) fn remove(
        &self,
        name: &str,
        generation: u64,
        commands: &mut CommandReceiver<QueuedCommand>,
    ) {
        let mut rooms = self.lock_rooms();
        if rooms
            .get(name)
            .is_some_and(|entry| entry.generation == generation)
        {
            rooms.remove(name);
            self.inner.loaded.send_replace(rooms.len());
        }
        commands.close();
    }

    /// The command queue of room `name`, starting its task if needed, and its client count.
    fn room_commands(
        &self,
        name: &str,
    ) -> Result<(CommandSender<QueuedCommand>, Arc<RoomStatus>), JoinError> {
        let mut rooms = self.lock_rooms();
        if let Some(entry) = rooms.get(name)
            && !entry.commands.is_closed()
        {
            return Ok((entry.commands.clone(), entry.status.clone()));
        }
        if rooms.len() >= self.inner.max_rooms && !rooms.contains_key(name) {
            return Err(JoinError::TooManyRooms(self.inner.max_rooms));
        }
        let status = Arc::new(RoomStatus::default());
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = command_queue(ROOM_QUEUE_COMMANDS);
        rooms.insert(
            name.to_owned(),
            RoomEntry {
                generation,
                commands: sender.clone(),
                status: status.clone(),
            },
        );
        self.inner.loaded.send_replace(rooms.len());
        let context = RoomContext {
            name: name.into(),
            generation,
            registry: self.clone(),
            persistence: self.inner.persistence.clone(),
            status: status.clone(),
            max_document_bytes: self.inner.max_document_bytes,
            frame_limits: self.inner.frame_limits,
            idle_document_after: self.inner.idle_document_after,
        };
        self.inner.tracker.spawn(run_room(context, receiver));
        Ok((sender, status))
    }

    fn lock_rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomEntry>> {
        // The map holds no invariant a panicking holder could break halfway.
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
