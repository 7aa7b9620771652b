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
//! counter in a [`watch`] channel and notes when: however many events arrive, the mirror wakes
//! once and reads the file as it is then, so no queue can grow.
//!
//! The mirror also reads the file when a remote change arrives, and that read must not land
//! between an editor's steps either: an empty file read there would become a deletion of the
//! whole text, sent to everyone. `FileWatcher::quiet` waits out the quiet period without
//! reporting the change. It measures from the last event, not from when it is called, so it
//! returns at once unless the file was touched within the last [`QUIET_PERIOD`].
//!
//! `FileWatcher::changed` is cancel-safe: the mirror waits for it in a `select!` beside the
//! connection's status, which changes every few hundred milliseconds while the server is away.
//! A change counts as reported only when `changed` returns, so a wait dropped during the quiet
//! period leaves the change for the next one instead of losing the edit.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;
// Tokio's clock, which tests can pause; off the runtime (the observer's thread) it is the
// system's monotonic clock, as the runtime's timers are.
use tokio::time::Instant;
use tracing::warn;

use crate::error::MirrorError;

/// How long the file must stay unchanged before a change is read.
pub const QUIET_PERIOD: Duration = Duration::from_millis(30);

/// What the observer has seen of the file so far.
#[derive(Debug, Clone, Copy, Default)]
struct Activity {
    /// How many events concerning the file arrived.
    count: u64,
    /// When the last of them arrived; `None` before the first.
    last_event: Option<Instant>,
}

impl Activity {
    fn record_event(&mut self) {
        self.count += 1;
        self.last_event = Some(Instant::now());
    }

    /// When the file will have been quiet for [`QUIET_PERIOD`], if that is still ahead.
    fn quiet_from(&self) -> Option<Instant> {
        let quiet_from = self.last_event? + QUIET_PERIOD;
        (Instant::now() < quiet_from).then_some(quiet_from)
    }
}

/// Watches one file.
pub(crate) struct FileWatcher {
    activity: watch::Receiver<Activity>,
    /// The count up to which changes were reported by [`FileWatcher::changed`].
    reported: u64,
    _watcher: RecommendedWatcher,
}

impl FileWatcher {
    /// Starts watching `path` (which need not exist yet; its directory must).
    pub(crate) fn new(path: &Path) -> Result<Self, MirrorError> {
        let directory = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name: OsString = path.file_name().unwrap_or_default().to_owned();
        let (recorder, activity) = watch::channel(Activity::default());
        let count = move || recorder.send_modify(Activity::record_event);
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
            activity,
            reported: 0,
            _watcher: watcher,
        })
    }

    /// Waits for a change of the file not reported yet, then for it to be quiet for
    /// [`QUIET_PERIOD`]. Cancel-safe (see the module documentation).
    pub(crate) async fn changed(&mut self) {
        while self.activity.borrow_and_update().count == self.reported {
            if self.activity.changed().await.is_err() {
                // The observer is gone (it lives as long as `self`, so this does not happen):
                // no change will ever come.
                std::future::pending::<()>().await;
            }
        }
        self.quiet().await;
        self.reported = self.activity.borrow_and_update().count;
    }

    /// Waits until the file has had no event for [`QUIET_PERIOD`]: at once if it has had none
    /// that recently. Reports nothing; a change it waited out is still reported by
    /// [`FileWatcher::changed`]. Cancel-safe. The future holds its own receiver, not `self`,
    /// so it can be awaited in the same `select!` as [`FileWatcher::changed`].
    pub(crate) fn quiet(&self) -> impl Future<Output = ()> + use<> {
        let activity = self.activity.clone();
        async move {
            // Re-checked after each sleep: an event meanwhile moves the end of the quiet period.
            // (A `let` of its own, so the channel's read lock is released before sleeping.)
            loop {
                let quiet_from = activity.borrow().quiet_from();
                match quiet_from {
                    Some(quiet_from) => tokio::time::sleep_until(quiet_from).await,
                    None => return,
                }
            }
        }
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
    use futures_util::FutureExt;

    use super::*;

    /// A wait for a change that is dropped during the quiet period (as `select!` does when
    /// another branch wins) leaves the change to the next wait instead of losing it.
    #[tokio::test]
    async fn a_change_survives_a_wait_cancelled_in_its_quiet_period() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("notes.md");
        let mut watcher = FileWatcher::new(&path).unwrap();
        let mut activity = watcher.activity.clone();
        std::fs::write(&path, "edited").unwrap();
        activity
            .wait_for(|activity| activity.count > 0)
            .await
            .unwrap();

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

    /// A watcher whose events come from the returned sender instead of the file system, so
    /// tests on paused time decide when each happens.
    fn hand_fed_watcher() -> (tempfile::TempDir, FileWatcher, watch::Sender<Activity>) {
        let directory = tempfile::tempdir().unwrap();
        let mut watcher = FileWatcher::new(&directory.path().join("notes.md")).unwrap();
        let (recorder, activity) = watch::channel(Activity::default());
        watcher.activity = activity;
        (directory, watcher, recorder)
    }

    /// Waiting for quiet lasts as long as events keep coming closer together than the quiet
    /// period, ends once they stop, and leaves the change to be reported.
    #[tokio::test(start_paused = true)]
    async fn quiet_waits_until_events_stop_for_the_quiet_period() {
        let (_directory, mut watcher, recorder) = hand_fed_watcher();
        let mut quiet = std::pin::pin!(watcher.quiet());
        for _ in 0..5 {
            recorder.send_modify(Activity::record_event);
            let early = tokio::time::timeout(QUIET_PERIOD * 2 / 3, &mut quiet).await;
            assert!(early.is_err(), "quiet while the file kept changing");
        }
        let last_event = recorder.borrow().last_event.unwrap();
        quiet.await;
        assert!(Instant::now() >= last_event + QUIET_PERIOD);
        assert!(
            watcher.changed().now_or_never().is_some(),
            "waiting for quiet swallowed the change"
        );
    }

    /// Waiting for quiet adds no delay when the file was not touched within the quiet period.
    #[tokio::test(start_paused = true)]
    async fn quiet_returns_at_once_for_a_file_not_touched_lately() {
        let (_directory, watcher, recorder) = hand_fed_watcher();
        assert!(watcher.quiet().now_or_never().is_some(), "no event yet");
        recorder.send_modify(Activity::record_event);
        assert!(
            watcher.quiet().now_or_never().is_none(),
            "an event just now"
        );
        tokio::time::advance(QUIET_PERIOD).await;
        assert!(
            watcher.quiet().now_or_never().is_some(),
            "the last event is a quiet period old"
        );
    }
}
