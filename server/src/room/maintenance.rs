//! Store upkeep off the writer's path.
//!
//! The sled store keeps updates in an append log and folds its oldest segments into sled once
//! too many have piled up (`DocStore::maintain`). Done inside a flush, that fold (a sled write
//! and flush of every live update in a segment) was part of one batch's commit, and every room
//! waiting on that batch waited for it: under a 50 MB/s flood, a segment filled every third of a
//! second and the quiet rooms' p99 had a spike at each (issue #20). So the writer only asks for
//! upkeep after a batch, and a thread of its own runs it, below the async workers' priority.
//! Asking is a `try_send` into a one-slot queue: requests that arrive while one waits or runs
//! fold into it, and the writer never blocks on it.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};

use storage::DocStore;

use super::heavy_lane::lower_priority;
use super::storage_error::is_storage_failure;
use super::storage_health::StorageHealth;

/// The writer's handle on the upkeep thread; the thread ends once it is dropped.
pub(crate) struct Maintenance {
    requests: SyncSender<()>,
}

impl Maintenance {
    /// Starts the upkeep thread for `store`; its storage failures are reported to `health`.
    pub(crate) fn start(store: Arc<dyn DocStore>, health: Arc<StorageHealth>) -> Self {
        let (requests, pending) = sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("quire-store-upkeep".to_owned())
            .spawn(move || {
                lower_priority();
                while pending.recv().is_ok() {
                    if health.refuses_writes() {
                        continue;
                    }
                    match store.maintain() {
                        Ok(()) => {}
                        Err(error) if is_storage_failure(&error) => {
                            health.record_store_error(&error);
                        }
                        Err(error) => tracing::warn!(%error, "store upkeep failed"),
                    }
                }
            })
            .expect("the OS lets us start the store's upkeep thread");
        Maintenance { requests }
    }

    /// Asks for upkeep; returns at once.
    pub(crate) fn request(&self) {
        let _ = self.requests.try_send(());
    }
}
