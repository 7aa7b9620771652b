//! The thread that makes appends durable when nobody flushes (`--durability relaxed`).

use std::sync::Arc;

use crate::append_log::AppendLog;
use crate::error::StoreError;
use crate::write_latch::WriteLatch;

/// How often appends are made durable when nobody flushes (`--durability relaxed`): what sled's
/// own flush timer did for them before the append log.
const BACKGROUND_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Syncs the append log every [`BACKGROUND_SYNC_INTERVAL`] until the store is gone. A sync with
/// nothing written since the last one costs nothing, so with `strict` flushes it is idle.
pub(super) fn spawn_background_sync(appends: &Arc<AppendLog>, latch: &Arc<WriteLatch>) {
    let appends = Arc::downgrade(appends);
    let latch = Arc::clone(latch);
    let spawned = std::thread::Builder::new()
        .name("quire-append-sync".into())
        .spawn(move || {
            loop {
                std::thread::sleep(BACKGROUND_SYNC_INTERVAL);
                let Some(appends) = appends.upgrade() else {
                    return;
                };
                if latch.check().is_err() {
                    return;
                }
                if let Err(source) = appends.sync() {
                    let _ = latch.observe::<()>(Err(StoreError::Io {
                        path: appends.directory().to_path_buf(),
                        source,
                    }));
                    return;
                }
            }
        });
    // Without the thread, appends are still made durable by every flush; only relaxed mode's
    // timer is missing, which is not worth failing the open for.
    if let Err(error) = spawned {
        eprintln!("storage: no background sync thread: {error}");
    }
}
