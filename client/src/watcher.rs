//! Noticing that the mirrored file changed.
//!
//! The watch is on the file's directory, not on the file: editors save by writing a new file and
//! renaming it over the old one (vim, Emacs, VS Code's atomic save), and a watch on the old
//! file's inode would never fire again. Events for other names in the directory are ignored, as
//! are reads (the mirror's own reads would otherwise wake it again).
//!
//! An editor may write a file in several steps (truncate, then write). Reading between them
//! would turn the half-written file into edits, deleting text only to insert it again, so a
//! change counts once the file has been quiet for [`QUIET_PERIOD`]. The observer only bumps a
//! counter in a [`watch`] channel: however many events arrive, the mirror wakes once and reads
//! the file as it is then, so no queue can grow.
//!
//! [`FileWatcher::changed`] is cancel-safe: the mirror waits for it in a `select!` beside the
//! connection's status, which changes every few hundred milliseconds while the server is away.
//! A change counts as reported only when `changed` returns, so a wait dropped during the quiet
//! period leaves the change for the next one instead of losing the edit.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;
use tracing::warn;

use crate::error::MirrorError;

/// How long the file must stay unchanged before a change is read.
pub const QUIET_PERIOD: Duration = Duration::from_millis(30);

/// Watches one file.
pub(crate) struct FileWatcher {
    /// How many events concerning the file the observer has seen.
    events: watch::Receiver<u64>,
    /// The count up to which changes were reported by [`FileWatcher::changed`].
    reported: u64,
    _watcher: RecommendedWatcher,
}

impl FileWatcher {
    /// Starts watching `path` (which need not exist yet; its directory must).
    pub(crate) fn new(path: &Path) -> Result<Self, MirrorError> {
        let directory = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name: OsString = path.file_name().unwrap_or_default().to_owned();
        let (counter, events) = watch::channel(0_u64);
        let count = move || counter.send_modify(|count| *count += 1);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<Event>| match event {
                Ok(event) if concerns(&event, &name) => count(),
                Ok(_) => {}
                Err(error) => {
                    warn!(%error, "file watcher error; re-reading the file");
                    count();
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
            events,
            reported: 0,
            _watcher: watcher,
        })
    }

    /// Waits for a change of the file not reported yet, then for it to be quiet for
    /// [`QUIET_PERIOD`]. Cancel-safe (see the module documentation).
    pub(crate) async fn changed(&mut self) {
        while *self.events.borrow_and_update() == self.reported {
            if self.events.changed().await.is_err() {
                // The observer is gone (it lives as long as `self`, so this does not happen):
                // no change will ever come.
                std::future::pending::<()>().await;
            }
        }
        while let Ok(Ok(())) = tokio::time::timeout(QUIET_PERIOD, self.events.changed()).await {}
        self.reported = *self.events.borrow_and_update();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A wait for a change that is dropped during the quiet period (as `select!` does when
    /// another branch wins) leaves the change to the next wait instead of losing it.
    #[tokio::test]
    async fn a_change_survives_a_wait_cancelled_in_its_quiet_period() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("notes.md");
        let mut watcher = FileWatcher::new(&path).unwrap();
        let mut events = watcher.events.clone();
        std::fs::write(&path, "edited").unwrap();
        events.wait_for(|count| *count > 0).await.unwrap();

        let cancelled = tokio::time::timeout(QUIET_PERIOD / 3, watcher.changed()).await;
        assert!(cancelled.is_err(), "the wait ended before its quiet period");
        tokio::time::timeout(Duration::from_secs(10), watcher.changed())
            .await
            .expect("the change noticed by the cancelled wait is reported by the next");
    }

    /// Once reported, a change is not reported again.
    #[tokio::test]
    async fn a_reported_change_is_reported_once() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("notes.md");
        let mut watcher = FileWatcher::new(&path).unwrap();
        std::fs::write(&path, "edited").unwrap();
        watcher.changed().await;
        let again = tokio::time::timeout(QUIET_PERIOD * 3, watcher.changed()).await;
        assert!(again.is_err(), "one change was reported twice");
    }
}
