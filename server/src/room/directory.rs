//! The rooms in memory by name, and what a room's own task may do to that map.
//!
//! Kept apart from the registry so a room's task can be handed [`Retirement`] (leave the map,
//! under its lock, if no command waits) and [`RoomStatus`] (what listings show) without the
//! registry itself: the registry starts tasks, and a task that held the registry could start
//! rooms, join them or wait on itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::command::QueuedCommand;
use super::command_queue::{CommandReceiver, CommandSender};

/// The rooms by name.
pub(crate) struct RoomMap {
    rooms: Mutex<HashMap<String, RoomEntry>>,
    /// How many rooms are in memory, for whoever needs to await a change (tests, readiness).
    pub(crate) loaded: watch::Sender<usize>,
}

impl RoomMap {
    /// An empty map.
    pub(crate) fn new() -> Self {
        RoomMap {
            rooms: Mutex::new(HashMap::new()),
            loaded: watch::Sender::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<String, RoomEntry>> {
        // The map holds no invariant a panicking holder could break halfway.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes room `name` if it is still generation `generation`, and closes its queue.
    fn remove(&self, name: &str, generation: u64, commands: &mut CommandReceiver<QueuedCommand>) {
        let mut rooms = self.lock();
        if rooms
            .get(name)
            .is_some_and(|entry| entry.generation == generation)
        {
            rooms.remove(name);
            self.loaded.send_replace(rooms.len());
        }
        commands.close();
    }
}

/// How a room task leaves the registry: all it is given of it.
pub(crate) struct Retirement {
    pub(crate) rooms: Arc<RoomMap>,
    pub(crate) name: Arc<str>,
    pub(crate) generation: u64,
}

impl Retirement {
    /// Leaves the registry if no command is waiting, closing the queue so late senders go to a
    /// fresh room; true when it left.
    pub(crate) fn retire_if_idle(&self, commands: &mut CommandReceiver<QueuedCommand>) -> bool {
        // Checked under the map's lock: a sender finds the room either in the map, and then its
        // command is seen here, or gone, and then it starts a fresh room.
        let rooms = self.rooms.lock();
        if !commands.is_empty() {
            return false;
        }
        drop(rooms);
        self.remove(commands);
        true
    }

    /// Leaves the registry whatever is waiting, closing the queue.
    pub(crate) fn remove(&self, commands: &mut CommandReceiver<QueuedCommand>) {
        self.rooms.remove(&self.name, self.generation, commands);
    }
}

/// One room in the map.
pub(crate) struct RoomEntry {
    pub(crate) generation: u64,
    pub(crate) commands: CommandSender<QueuedCommand>,
    pub(crate) status: Arc<RoomStatus>,
}

/// What a room task publishes about itself for listings, without a round trip to it.
#[derive(Default)]
pub(crate) struct RoomStatus {
    /// Connected clients.
    pub(crate) clients: AtomicUsize,
    /// Whether its document is let go of while idle (see [`super::sleep`]).
    pub(crate) asleep: AtomicBool,
}
