//! Noticing that the mirrored file changed.
//!
//! The watch is on the file's directory, not on the file: editors save by writing a new file and
//! renaming it over the old one (vim, Emacs, VS Code's atomic save), and a watch on the old
//! file's inode would never fire again. Events for other names in the directory are ignored, as
//! are reads (the mirror's own reads would otherwise wake it again).
//!
//! An editor may write a file in several steps (truncate, then write). Reading between them
//! would turn the half-written file into edits, deleting text only to insert it again, so a
//! change counts once the file has been quiet for [`QUIET_PERIOD`]. The observer only sets a
//! [`Notify`] permit: however many events arrive, the mirror wakes once and reads the file as it
//! is then, so no queue can grow.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;
use tracing::warn;

use crate::error::MirrorError;

/// How long the file must stay unchanged before a change is read.
pub const QUIET_PERIOD: Duration = Duration::from_millis(30);

/// Watches one file.
pub(crate) struct FileWatcher {
    changed: Arc<Notify>,
    _watcher: RecommendedWatcher,
}

impl FileWatcher {
    /// Starts watching `path` (which need not exist yet; its directory must).
    pub(crate) fn new(path: &Path) -> Result<Self, MirrorError> {
        let directory = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name: OsString = path.file_name().unwrap_or_default().to_owned();
        let changed = Arc::new(Notify::new());
        let notifying = changed.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<Event>| match event {
                Ok(event) if concerns(&event, &name) => notifying.notify_one(),
                Ok(_) => {}
                Err(error) => {
                    warn!(%error, "file watcher error; re-reading the file");
                    notifying.notify_one();
                }
            })
            .map_err(|source| MirrorError::Watch {
                path: directory.clone(),
                source,
            })?;
        watcher
            .watch(&directory, RecursiveMode::NonRecursive)
            .map_err(|source| MirrorError::Watch {
                path: directory.clone(),
                source,
            })?;
        Ok(FileWatcher {
            changed,
            _watcher: watcher,
        })
    }

    /// Waits for a change of the file, then for it to be quiet for [`QUIET_PERIOD`].
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
        while tokio::time::timeout(QUIET_PERIOD, self.changed.notified())
            .await
            .is_ok()
        {}
    }
}

/// Whether `event` may have changed the file named `name`.
fn concerns(event: &Event, name: &OsString) -> bool {
    let content_event = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    content_event
        && event
            .paths
            .iter()
            .any(|path| path.file_name() == Some(name.as_os_str()))
}
