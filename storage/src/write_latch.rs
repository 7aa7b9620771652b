//! After its first failed write, a sled 0.34 store refuses every write, and says why.
//!
//! Tried on a full filesystem: once an append fails with an I/O error (`ENOSPC`), sled's later
//! appends succeed again when space returns, but its `flush` never returns, not even after the
//! space is back. A writer that flushed after such an error would hang, and every room with it.
//! So the first I/O error of a write latches: from then on writes and flushes are refused at
//! once with [`StoreError::Unwritable`], naming that first error, while reads go on. Nothing
//! after the failure is ever made durable, and "fsyncgate" says not to trust what came before it
//! either: the caller treats the failed batch as lost. Only opening the store again (a restart)
//! clears the latch.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StoreError;

/// The first write failure of a store, once there is one.
#[derive(Debug, Default)]
pub(crate) struct WriteLatch {
    first_failure: OnceLock<String>,
    /// sled writes completed so far, so a flush can tell whether sled has anything to make
    /// durable (most flushes only cover the append log).
    writes: AtomicU64,
}

impl WriteLatch {
    /// Refuses a write once the latch is set.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match self.first_failure.get() {
            Some(first_error) => Err(StoreError::Unwritable {
                first_error: first_error.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Counts a sled write that has completed (call after it returned).
    pub(crate) fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// sled writes completed so far.
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Whether a write has failed.
    pub(crate) fn is_set(&self) -> bool {
        self.first_failure.get().is_some()
    }

    /// Passes `result` on, setting the latch if it is an I/O failure of the store.
    pub(crate) fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result
            && let Some(description) = io_failure(error)
        {
            let _ = self.first_failure.set(description);
        }
        result
    }
}

/// The failure, described with its OS error, if `error` is one the store cannot write past.
fn io_failure(error: &StoreError) -> Option<String> {
    match error {
        StoreError::Database(sled::Error::Io(source)) => Some(source.to_string()),
        StoreError::Io { path, source } => Some(format!("{}: {source}", path.display())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_io_failure_refuses_every_later_write() {
        let latch = WriteLatch::default();
        assert!(latch.check().is_ok());
        let not_io: Result<(), _> = Err(StoreError::CorruptEntry {
            doc: "a".into(),
            source: crate::document_entry::EntryError::Record(
                crate::record::RecordError::TooShort { length: 0 },
            ),
        });
        assert!(latch.observe(not_io).is_err());
        assert!(
            latch.check().is_ok(),
            "a refused payload is not a failed disk"
        );
        let full = std::io::Error::from_raw_os_error(28);
        let failed: Result<(), _> = Err(StoreError::Database(sled::Error::Io(full)));
        assert!(latch.observe(failed).is_err());
        let later = std::io::Error::from_raw_os_error(5);
        let _ = latch.observe::<()>(Err(StoreError::Database(sled::Error::Io(later))));
        match latch.check() {
            Err(StoreError::Unwritable { first_error }) => {
                assert!(first_error.contains("No space left"), "{first_error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
