//! The registry of rooms in memory: one owner task per room, found by name.
//!
//! Each room is owned by exactly one task (see [`super::task`]); everyone else talks to it
//! through a bounded command queue, with the named commands of [`super::command`]. The
//! registry's std `Mutex` is held only for map look-ups, never across an `.await`. A room whose
//! last client leaves retires itself under that lock, through the narrow [`Retirement`] handle
//! its task is given (not the registry), and a client that raced it simply joins a fresh room
//! task.

use crate::cluster::Cluster;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use crdt_core::{Access, ConnectionId};
use storage::VersionMeta;
use tokio::sync::{oneshot, watch};

use super::directory::{Retirement, RoomEntry, RoomMap, RoomStatus};
use super::heavy_lane::HeavyLane;
use tokio_util::task::TaskTracker;

use super::command::{
    ApplyUpdate, CloseReason, ConnectionOutbox, CreateVersion, Delete, EditError, Export,
    ExportError, ExportRequest, Exported, Frame, Join, Leave, QueuedCommand, Relay, Restore,
    RoomCommand, VersionError,
};
use super::command_queue::{Closed, CommandSender, command_queue};
use super::frame_queue::{FrameReceiver, frame_queue};
use super::owner::OwnerSettings;
use super::storage::Storage;
use super::task::{RoomContext, run_room};
use crate::config::ServeConfig;
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
        self.send(RoomCommand::Frame(Frame {
            connection,
            frame,
            receipt: None,
        }))
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
        self.send(RoomCommand::Frame(Frame {
            connection,
            frame,
            receipt: Some(receipt),
        }))
        .await
    }

    /// Relays `frame` from `connection` to the room's other connections that receive relays;
    /// false when the room is gone.
    pub async fn relay(&self, connection: ConnectionId, frame: Bytes) -> bool {
        self.send(RoomCommand::Relay(Relay { connection, frame }))
            .await
    }

    async fn send(&self, command: RoomCommand) -> bool {
        self.commands.send(Box::new(command)).await.is_ok()
    }

    /// Tells the room `connection` left.
    pub async fn leave(&self, connection: ConnectionId) {
        let _ = self
            .commands
            .send(Box::new(RoomCommand::Leave(Leave { connection })))
            .await;
    }
}

/// Every room currently in memory.
#[derive(Clone)]
pub struct RoomRegistry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    rooms: Arc<RoomMap>,
    next_generation: AtomicU64,
    tracker: TaskTracker,
    storage: Storage,
    /// Where rooms apply large batches, off the async workers.
    heavy_lane: HeavyLane,
    settings: OwnerSettings,
    /// The link to the other nodes sharing the documents, with `--cluster`.
    cluster: Option<Cluster>,
    client_queue_frames: usize,
    client_queue_bytes: usize,
    max_rooms: usize,
}

impl RoomRegistry {
    /// An empty registry whose rooms reach the store through `storage`, the other nodes
    /// through `cluster` (if any), and whose tasks are tracked by `tracker`.
    pub fn new(
        config: &ServeConfig,
        storage: Storage,
        cluster: Option<Cluster>,
        tracker: TaskTracker,
    ) -> Self {
        RoomRegistry {
            inner: Arc::new(RegistryInner {
                rooms: Arc::new(RoomMap::new()),
                next_generation: AtomicU64::new(0),
                tracker,
                storage: storage.clone(),
                heavy_lane: HeavyLane::start(
                    "quire-heavy",
                    std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                ),
                settings: OwnerSettings {
                    max_document_bytes: config.max_document_bytes as u64,
                    idle_document_after: config.document_idle(),
                    frame_limits: config.frame_limits(),
                    storage_health: storage.health().clone(),
                    clustered: cluster.is_some(),
                },
                cluster,
                client_queue_frames: config.client_queue_frames.max(1),
                client_queue_bytes: config.client_queue_bytes,
                max_rooms: config.max_rooms.max(1),
            }),
        }
    }

    /// How many rooms are in memory.
    pub fn loaded_rooms(&self) -> usize {
        self.inner.rooms.lock().len()
    }

    /// How many clients are connected to room `name` (0 when it is not in memory).
    pub fn clients(&self, name: &str) -> usize {
        self.inner
            .rooms
            .lock()
            .get(name)
            .map_or(0, |entry| entry.status.clients.load(Ordering::Relaxed))
    }

    /// Whether room `name`'s document is in memory now (not when nobody is connected, nor while
    /// it sleeps).
    pub fn document_in_memory(&self, name: &str) -> bool {
        self.inner
            .rooms
            .lock()
            .get(name)
            .is_some_and(|entry| !entry.status.asleep.load(Ordering::Relaxed))
    }

    /// Reads room `name`'s document as it is durably (loading it if needed).
    pub async fn export(
        &self,
        name: &str,
        request: ExportRequest,
    ) -> Result<Exported, ExportError> {
        let (reply, answer) = oneshot::channel();
        let command = RoomCommand::Export(Export { request, reply });
        let unavailable = |error: String| ExportError::Unavailable(error);
        self.send_command(name, command)
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        answer
            .await
            .map_err(|_| unavailable(format!("room {name:?} is unavailable")))?
    }

    /// Applies a Yjs v1 update to room `name`'s document; returns once it is durable and sent
    /// to the room's clients, with whether it changed anything.
    pub async fn apply_update(&self, name: &str, update: Vec<u8>) -> Result<bool, EditError> {
        let (reply, answer) = oneshot::channel();
        self.edit(
            name,
            RoomCommand::ApplyUpdate(ApplyUpdate { update, reply }),
            answer,
        )
        .await
    }

    /// Makes room `name`'s content equal `content` (a version's) with new edits; as
    /// [`RoomRegistry::apply_update`].
    pub async fn restore(&self, name: &str, content: Vec<u8>) -> Result<bool, EditError> {
        let (reply, answer) = oneshot::channel();
        self.edit(
            name,
            RoomCommand::Restore(Restore { content, reply }),
            answer,
        )
        .await
    }

    async fn edit(
        &self,
        name: &str,
        command: RoomCommand,
        answer: oneshot::Receiver<Result<bool, EditError>>,
    ) -> Result<bool, EditError> {
        let unavailable = || EditError::Storage(format!("room {name:?} is unavailable"));
        self.send_command(name, command)
            .await
            .map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }

    /// Keeps room `name`'s current state as a new version labelled `label`.
    pub async fn create_version(
        &self,
        name: &str,
        label: String,
    ) -> Result<VersionMeta, VersionError> {
        let (reply, answer) = oneshot::channel();
        let unavailable = || VersionError::Unavailable(format!("room {name:?} is unavailable"));
        self.send_command(
            name,
            RoomCommand::CreateVersion(CreateVersion { label, reply }),
        )
        .await
        .map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }

    /// Deletes room `name`'s document, closing its clients; whether it existed.
    pub async fn delete(&self, name: &str) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.send_command(name, RoomCommand::Delete(Delete { reply }))
            .await
            .map_err(|error| error.to_string())?;
        answer
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
        self.inner.rooms.loaded.subscribe()
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
            let (frames_sender, frames) = frame_queue(
                self.inner.client_queue_frames,
                self.inner.client_queue_bytes,
            );
            let (close_sender, close) = oneshot::channel();
            let (joined_sender, joined) = oneshot::channel();
            let mut outbox = ConnectionOutbox::new(frames_sender, close_sender);
            if receives_relays {
                outbox = outbox.receiving_relays();
            }
            let join = RoomCommand::Join(Join {
                access,
                outbox,
                joined: joined_sender,
            });
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

    /// The command queue of room `name`, starting its task if needed, and its client count.
    fn room_commands(
        &self,
        name: &str,
    ) -> Result<(CommandSender<QueuedCommand>, Arc<RoomStatus>), JoinError> {
        let mut rooms = self.inner.rooms.lock();
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
        self.inner.rooms.loaded.send_replace(rooms.len());
        let name: Arc<str> = name.into();
        let context = RoomContext {
            retirement: Retirement {
                rooms: self.inner.rooms.clone(),
                name: name.clone(),
                generation,
            },
            name,
            storage: self.inner.storage.clone(),
            heavy_lane: self.inner.heavy_lane.clone(),
            cluster: self.inner.cluster.clone(),
            status: status.clone(),
            settings: self.inner.settings.clone(),
        };
        self.inner.tracker.spawn(run_room(context, receiver));
        Ok((sender, status))
    }
}
