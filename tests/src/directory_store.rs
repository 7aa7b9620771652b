//! A sled store that owns its temporary directory.
//!
//! A test that ends without stopping its server drops the runtime while blocking tasks (a
//! retiring room's compaction, say) still hold the store. If the directory vanished first, sled
//! would fail to create its files, and sled 0.34 then waits forever in the flush it runs when
//! dropped, hanging the test. Tying the directory to the store removes it only after the last
//! reference to the store is gone and sled has finished with it.

use std::sync::Arc;

use storage::testing::{HookedStore, StoreHooks};
use storage::{AppendReceipt, DocStore, SledStore, StoreError};
use tempfile::TempDir;

/// A [`SledStore`] in a [`TempDir`] that is removed when the store is dropped: the directory is
/// the store's hooks, which drop after it, so sled closes before its directory goes.
pub type DirectoryStore = HookedStore<SledStore, OwnedDirectory>;

/// The directory a [`DirectoryStore`] lives in; every call goes to sled unchanged.
pub struct OwnedDirectory {
    /// Held, never read: dropping it removes the directory.
    _directory: TempDir,
}

impl StoreHooks for OwnedDirectory {
    /// sled's own batching, as the server gets it, not one append at a time.
    fn append_many(
        &self,
        inner: &dyn DocStore,
        appends: &[(&str, &[u8])],
    ) -> Vec<Result<AppendReceipt, StoreError>> {
        inner.append_many(appends)
    }
}

/// Opens a sled store with `cache_bytes` of cache in `directory`, which it takes over.
pub fn open_directory_store(
    directory: TempDir,
    cache_bytes: u64,
) -> Result<Arc<DirectoryStore>, StoreError> {
    let store = SledStore::open_with_cache(directory.path(), cache_bytes)?;
    Ok(Arc::new(HookedStore::new(
        store,
        OwnedDirectory {
            _directory: directory,
        },
    )))
}
