//! Whether storage can take writes now, and what the operator is told when it cannot.
//!
//! Three ways storage stops taking writes, and they recover differently:
//! - **Low on space**: the writer checks the filesystem's free space before every batch and
//!   refuses the batch, without touching the store, while less than the reserve (plus room for
//!   the batch) is free. sled 0.34 never recovers from a write that failed for lack of space (its
//!   flush hangs for good afterwards, see `storage::write_latch`), so the reserve keeps sled from
//!   ever meeting a full disk. Recovers by itself: a probe rechecks the space every
//!   [`PROBE_INTERVAL`] and edits are taken again once it is there.
//! - **Failed**: a write or flush failed anyway (a failing device, a read-only filesystem, a disk
//!   filled faster than the reserve), or a flush did not return within the writer's limit. The
//!   store makes nothing durable after that until it is opened again, so this lasts until a
//!   restart, and says so.
//! - **Unreachable**: a store on a database server (PostgreSQL) could not reach it: a dropped
//!   connection, a server restarting. Nothing is lost by that (what failed was never shown), and
//!   the store reconnects by itself, so a probe asks it every [`PROBE_INTERVAL`] and edits are
//!   taken again once it answers.
//!
//! Either way rooms refuse edits at once (the writer's close code, `storage_unavailable`),
//! reads and joins keep being served from what is stored, `/readyz` answers 503 with the reason,
//! `quire_storage_errors_total{kind}` counts each refusal, and the log gets one error line when
//! an episode starts and one line when it ends, not one per update. The decisions live in
//! [`HealthState`], without I/O, and are unit-tested.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use storage::StoreError;
use tracing::{error, info};

use crate::telemetry;

/// Disk space a snapshot takes while sled writes it, as a multiple of its size. Measured with
/// sled 0.34 on a 32 MiB tmpfs: compacting a 4.2 MB document whose log held forty 100 KB
/// updates took 19 MB of free space at once (the snapshot as a blob, the log segments it and the
/// removals went to, and the segments cleaned meanwhile), before sled freed most of it. With
/// twice the size, as for batches, a compaction near the reserve ran the disk out of space and
/// storage stopped until a restart (`tests/js/storage-full.test.mjs`, in CI).
pub(crate) const SNAPSHOT_SPACE_FACTOR: u64 = 5;

/// How often a server low on space rechecks it.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Why storage takes no writes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outage {
    /// Less than the reserve is free on the data directory's filesystem.
    LowOnSpace {
        /// Bytes free when last checked.
        available: u64,
        /// Bytes that must be free to write.
        needed: u64,
    },
    /// The database server could not be reached; edits resume once it answers.
    Unreachable {
        /// The last failure, as the database driver tells it.
        error: String,
    },
    /// A write failed; nothing is made durable until a restart.
    Failed {
        /// The first failure, with the OS error.
        error: String,
    },
}

impl Outage {
    /// The reason `/readyz` and the close reason give.
    pub(crate) fn describe(&self) -> String {
        match self {
            Outage::LowOnSpace { available, needed } => format!(
                "storage unavailable: low on space, {available} bytes free, {needed} needed; edits resume once space is freed"
            ),
            Outage::Unreachable { error } => format!(
                "storage unavailable: the database is unreachable ({error}); edits resume once it answers"
            ),
            Outage::Failed { error } => {
                format!(
                    "storage unavailable: a write failed ({error}); edits resume after a restart"
                )
            }
        }
    }
}

/// A change of health the operator is told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// An outage began.
    Began(Outage),
    /// The outage ended (space came back, the database answers again): writes are taken again.
    Recovered(Outage),
    /// A low-space outage turned into a failure.
    Failed(Outage),
}

/// The health decisions, without I/O.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HealthState {
    outage: Option<Outage>,
}

impl HealthState {
    /// The outage now, if any.
    pub(crate) fn outage(&self) -> Option<&Outage> {
        self.outage.as_ref()
    }

    /// `available` bytes are free and `needed` must be to write.
    pub(crate) fn handle_space(&mut self, available: u64, needed: u64) -> Option<Change> {
        match &self.outage {
            Some(Outage::Failed { .. } | Outage::Unreachable { .. }) => None,
            Some(Outage::LowOnSpace { .. }) if available >= needed => {
                self.outage.take().map(Change::Recovered)
            }
            Some(Outage::LowOnSpace { .. }) => {
                self.outage = Some(Outage::LowOnSpace { available, needed });
                None
            }
            None if available < needed => {
                let outage = Outage::LowOnSpace { available, needed };
                self.outage = Some(outage.clone());
                Some(Change::Began(outage))
            }
            None => None,
        }
    }

    /// A write or flush failed with `error`: final until a restart.
    pub(crate) fn handle_write_failure(&mut self, error: String) -> Option<Change> {
        let outage = Outage::Failed { error };
        match self.outage.replace(outage.clone()) {
            Some(Outage::Failed { error }) => {
                // The first failure is the one that matters; later ones are its consequences.
                self.outage = Some(Outage::Failed { error });
                None
            }
            Some(Outage::LowOnSpace { .. } | Outage::Unreachable { .. }) => {
                Some(Change::Failed(outage))
            }
            None => Some(Change::Began(outage)),
        }
    }

    /// The database could not be reached (`error`): an outage until it answers again, unless a
    /// failure already made it final.
    pub(crate) fn handle_unreachable(&mut self, error: String) -> Option<Change> {
        match &self.outage {
            Some(Outage::Failed { .. }) => None,
            Some(Outage::Unreachable { .. }) => {
                // One episode: keep the latest reason for /readyz, tell the log once.
                self.outage = Some(Outage::Unreachable { error });
                None
            }
            Some(Outage::LowOnSpace { .. }) | None => {
                let outage = Outage::Unreachable { error };
                self.outage = Some(outage.clone());
                Some(Change::Began(outage))
            }
        }
    }

    /// The database answered: an unreachable episode ends.
    pub(crate) fn handle_reachable(&mut self) -> Option<Change> {
        match &self.outage {
            Some(Outage::Unreachable { .. }) => self.outage.take().map(Change::Recovered),
            _ => None,
        }
    }
}

/// The server's view of its storage, shared by the writer, the rooms and `/readyz`.
#[derive(Debug)]
pub(crate) struct StorageHealth {
    /// Read on every edit: set while any outage lasts.
    refusing: AtomicBool,
    state: Mutex<HealthState>,
    /// Bytes kept free on the data directory's filesystem.
    reserve_bytes: u64,
    /// The data directory, for the log.
    location: Option<PathBuf>,
}

impl StorageHealth {
    pub(crate) fn new(reserve_bytes: u64) -> Self {
        metrics::gauge!(telemetry::STORAGE_UP).set(1.0);
        StorageHealth {
            refusing: AtomicBool::new(false),
            state: Mutex::new(HealthState::default()),
            reserve_bytes,
            location: None,
        }
    }

    /// Names `location` (the data directory) in the log lines.
    pub(crate) fn with_location(mut self, location: Option<PathBuf>) -> Self {
        self.location = location;
        self
    }

    /// Whether edits are refused now.
    pub(crate) fn refuses_writes(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
    }

    /// The outage now, if any.
    pub(crate) fn outage(&self) -> Option<Outage> {
        self.lock().outage().cloned()
    }

    /// Whether a batch of `batch_bytes` may be written with `available` bytes free (`None`: the
    /// store has no filesystem to run out of).
    pub(crate) fn admit_batch(&self, available: Option<u64>, batch_bytes: u64) -> bool {
        let Some(available) = available else {
            return !self.refuses_writes();
        };
        // sled writes a batch into its log, and large values again as blob files.
        let needed = self
            .reserve_bytes
            .saturating_add(batch_bytes.saturating_mul(2));
        let change = self.lock().handle_space(available, needed);
        self.apply(change);
        let admitted = !self.refuses_writes();
        if !admitted {
            telemetry::record_storage_error("no_space");
        }
        admitted
    }

    /// Whether a snapshot of `bytes` (a compaction, a version) may be written with `available`
    /// bytes free: not during an outage, and only with room for it beside the reserve, counting
    /// what sled writes for it, measured at about 4.5 times its size (see
    /// [`SNAPSHOT_SPACE_FACTOR`]). A snapshot that does not fit is refused on its own, starting
    /// no outage: the reason is given back.
    pub(crate) fn admit_snapshot(&self, available: Option<u64>, bytes: u64) -> Result<(), String> {
        if let Some(outage) = self.outage() {
            return Err(outage.describe());
        }
        let Some(available) = available else {
            return Ok(());
        };
        let needed = self
            .reserve_bytes
            .saturating_add(bytes.saturating_mul(SNAPSHOT_SPACE_FACTOR));
        if available < needed {
            telemetry::record_storage_error("no_space");
            return Err(format!(
                "storage unavailable: not enough space for a snapshot of {bytes} bytes, {available} bytes free, {needed} needed"
            ));
        }
        Ok(())
    }

    /// A probe of the free space, while low on it. The outage ends only with room for the write
    /// it refused: ending it with just the reserve free would let that write (often a whole
    /// document persisted again) be refused at once, closing its room's clients once a probe.
    pub(crate) fn probe(&self, available: u64) {
        let change = {
            let mut state = self.lock();
            let needed = match state.outage() {
                Some(Outage::LowOnSpace { needed, .. }) => (*needed).max(self.reserve_bytes),
                _ => self.reserve_bytes,
            };
            state.handle_space(available, needed)
        };
        self.apply(change);
    }

    /// A write or flush failed.
    pub(crate) fn record_failure(&self, error: String) {
        telemetry::record_storage_error("write_failed");
        let change = self.lock().handle_write_failure(error);
        self.apply(change);
    }

    /// The store itself failed with `error` (not one request): a database that could not be
    /// reached is an outage that ends once it answers again; anything else lasts until a restart.
    pub(crate) fn record_store_error(&self, error: &StoreError) {
        match error {
            StoreError::Postgres(_) => self.record_unreachable(error.to_string()),
            _ => self.record_failure(error.to_string()),
        }
    }

    /// The database could not be reached: edits are refused until a probe finds it again.
    pub(crate) fn record_unreachable(&self, error: String) {
        telemetry::record_storage_error("unreachable");
        let change = self.lock().handle_unreachable(error);
        self.apply(change);
    }

    /// A probe reached the database (`Ok`), or still could not (the latest reason, not counted
    /// as a refusal).
    pub(crate) fn probe_reachable(&self, reached: Result<(), String>) {
        let change = match reached {
            Ok(()) => self.lock().handle_reachable(),
            Err(error) => self.lock().handle_unreachable(error),
        };
        self.apply(change);
    }

    fn apply(&self, change: Option<Change>) {
        let outage = self.lock().outage().is_some();
        self.refusing.store(outage, Ordering::Relaxed);
        if change.is_some() {
            metrics::gauge!(telemetry::STORAGE_UP).set(if outage { 0.0 } else { 1.0 });
        }
        match change {
            Some(Change::Began(outage)) | Some(Change::Failed(outage)) => {
                let path = self
                    .location
                    .as_deref()
                    .map(|path| path.display().to_string());
                error!(reason = %outage.describe(), path = path.unwrap_or_default(), "storage stopped taking writes; edits are refused");
            }
            Some(Change::Recovered(Outage::Unreachable { .. })) => {
                info!("the database answers again; edits are taken again")
            }
            Some(Change::Recovered(_)) => info!("storage has space again; edits are taken again"),
            None => {}
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_low_begins_one_episode_and_space_ends_it() {
        let mut state = HealthState::default();
        assert_eq!(state.handle_space(100, 50), None);
        let began = state.handle_space(40, 50);
        assert!(matches!(
            began,
            Some(Change::Began(Outage::LowOnSpace { .. }))
        ));
        assert_eq!(state.handle_space(30, 50), None, "one episode, told once");
        assert_eq!(
            state.outage(),
            Some(&Outage::LowOnSpace {
                available: 30,
                needed: 50
            })
        );
        assert!(matches!(
            state.handle_space(60, 50),
            Some(Change::Recovered(Outage::LowOnSpace { .. }))
        ));
        assert_eq!(state.outage(), None);
    }

    #[test]
    fn a_probe_ends_an_outage_only_with_room_for_the_refused_write() {
        let health = StorageHealth::new(100);
        assert!(!health.admit_batch(Some(150), 40), "100 + 2 x 40 needed");
        health.probe(120);
        assert!(health.refuses_writes(), "the reserve alone is not enough");
        health.probe(180);
        assert!(!health.refuses_writes());
        assert!(health.admit_batch(Some(180), 40));
    }

    #[test]
    fn a_failed_write_lasts_until_a_restart() {
        let mut state = HealthState::default();
        state.handle_space(10, 50);
        let failed = state.handle_write_failure("first".into());
        assert!(matches!(
            failed,
            Some(Change::Failed(Outage::Failed { .. }))
        ));
        assert_eq!(state.handle_write_failure("second".into()), None);
        assert_eq!(
            state.handle_space(1000, 50),
            None,
            "space does not undo a failure"
        );
        assert_eq!(
            state.outage(),
            Some(&Outage::Failed {
                error: "first".into()
            })
        );
    }

    #[test]
    fn an_unreachable_database_is_one_episode_that_ends_when_it_answers() {
        let mut state = HealthState::default();
        assert!(matches!(
            state.handle_unreachable("connection refused".into()),
            Some(Change::Began(Outage::Unreachable { .. }))
        ));
        assert_eq!(
            state.handle_unreachable("still refused".into()),
            None,
            "told once per episode"
        );
        assert_eq!(
            state.outage(),
            Some(&Outage::Unreachable {
                error: "still refused".into()
            }),
            "the latest reason is what /readyz says"
        );
        assert_eq!(
            state.handle_space(0, 50),
            None,
            "space is not the question now"
        );
        assert!(matches!(
            state.handle_reachable(),
            Some(Change::Recovered(Outage::Unreachable { .. }))
        ));
        assert_eq!(state.outage(), None);
        assert_eq!(state.handle_reachable(), None, "nothing to end");
    }

    #[test]
    fn a_failed_write_outlasts_reaching_the_database_again() {
        let mut state = HealthState::default();
        state.handle_unreachable("down".into());
        assert!(matches!(
            state.handle_write_failure("flush timed out".into()),
            Some(Change::Failed(Outage::Failed { .. }))
        ));
        assert_eq!(state.handle_unreachable("down again".into()), None);
        assert_eq!(
            state.handle_reachable(),
            None,
            "a failure lasts until a restart"
        );
        assert!(matches!(state.outage(), Some(Outage::Failed { .. })));
    }

    #[test]
    fn a_snapshot_too_large_for_the_space_is_refused_alone() {
        let health = StorageHealth::new(100);
        let refused = health
            .admit_snapshot(Some(100 + 4 * 10), 10)
            .expect_err("five times its size is needed beside the reserve");
        assert!(
            refused.contains("not enough space for a snapshot"),
            "{refused}"
        );
        assert!(!health.refuses_writes(), "edits go on: no outage began");
        assert!(
            health.admit_batch(Some(100 + 40), 10),
            "a batch of the same size fits"
        );
        assert_eq!(health.admit_snapshot(Some(100 + 5 * 10), 10), Ok(()));
        assert_eq!(
            health.admit_snapshot(None, u64::MAX),
            Ok(()),
            "no filesystem to fill"
        );
    }
}
