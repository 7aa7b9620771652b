//! What a storage operation comes to when it fails, and what a persist comes to: shared by the
//! writer, its flush watchdog and the rooms, so none of them imports another for it.

use storage::{AppendReceipt, StoreError};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store refused the operation.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The batch was appended but the flush failed, so none of it is known to be durable.
    #[error("flushing the store failed: {0}")]
    FlushFailed(String),
    /// Storage takes no writes now (low on space, or failed earlier): nothing was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The writer thread is gone (the server is stopping).
    #[error("the storage writer has stopped")]
    WriterStopped,
    /// The blocking task running the operation failed.
    #[error("the storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The operation panicked on the heavy lane (what it said, when it said something).
    #[error("the storage operation panicked: {0}")]
    Panicked(String),
}

/// What a persist comes to: the receipt of its last append, once durable.
pub(crate) type PersistResult = Result<Option<AppendReceipt>, StorageError>;

/// Whether a store error means the store itself cannot write (as opposed to one request's
/// document or payload being refused).
pub(crate) fn is_storage_failure(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Database(_)
            | StoreError::Io { .. }
            | StoreError::Unwritable { .. }
            | StoreError::Postgres(_)
    )
}
