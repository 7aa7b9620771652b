//! The room engine: one document per room, one owner per room, and the queues between them.
//!
//! Layout, by concept (no file imports one that imports it back):
//! - [`registry`]: finds rooms by name, hands out [`RoomHandle`]s and starts a room's task.
//! - `directory`: the map of rooms itself, and the narrow `Retirement` handle a room's task is
//!   given to leave it (not the registry, which starts tasks).
//! - [`command`]: what a room can be asked, as named commands with their reply channels.
//! - [`command_queue`], [`frame_queue`]: the bounded queues into a room and out to each
//!   connection, cheap while idle.
//! - `owner`: the sans-IO state machine deciding everything about a room (durable before
//!   visible, batching, sleep, retirement, compaction, failures); unit-tested without sockets.
//! - `effect`: what the owner decides, for the task to carry out.
//! - `task`: the async task around the owner, moving bytes and time; `heavy_lane`: the
//!   low-priority threads where it has large batches handled, off the async workers.
//! - `sleep`: how long a quiet room keeps its document.
//! - `document_log` and `loading`: the owner's account of its stored log, and turning a load
//!   into a room.
//! - [`storage`]: the one way to the store; `writer`: the group-commit writer thread behind it;
//!   `flusher`: the watchdog that answers a batch whose flush ran past its limit;
//!   `maintenance`: the store's upkeep (folding the append log), asked for by the writer and
//!   done on a thread of its own;
//!   `storage_health`: whether storage takes writes (free space, no failed write);
//!   `storage_error`: what a storage operation or a persist comes to.

mod applied_seqs;
pub mod command;
pub mod command_queue;
mod directory;
mod document_log;
mod effect;
mod export;
mod flusher;
pub mod frame_queue;
mod heavy_lane;
mod loading;
mod maintenance;
mod owner;
pub mod registry;
mod sleep;
pub mod storage;
mod storage_error;
pub(crate) mod storage_health;
mod task;
mod writer;

pub use command::{
    CloseReason, ConnectionOutbox, EditError, ExportError, ExportRequest, Exported, VersionError,
};
pub use document_log::{COMPACT_AFTER_BYTES, COMPACT_AFTER_RECORDS};
pub use registry::{JoinError, Membership, RoomHandle, RoomRegistry};
pub use storage::{Durability, Storage, StorageError, StorageSettings};
