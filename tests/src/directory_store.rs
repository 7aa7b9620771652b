//! A sled store that owns its temporary directory.
//!
//! A test that ends without stopping its server drops the runtime while blocking tasks (a
//! retiring room's compaction, say) still hold the store. If the directory vanished first, sled
//! would fail to create its files, and sled 0.34 then waits forever in the flush it runs when
//! dropped, hanging the test. Tying the directory to the store removes it only after the last
//! reference to the store is gone and sled has finished with it.

use std::sync::Arc;

use storage::{
    AppendReceipt, DocMeta, DocStore, LoadedDoc, Seq, SledStore, StoreError, VersionId, VersionMeta,
};
use tempfile::TempDir;

/// A [`SledStore`] in a [`TempDir`] that is removed when the store is dropped.
pub struct DirectoryStore {
    // Fields drop in order: sled closes before its directory goes.
    store: SledStore,
    _directory: TempDir,
}

impl DirectoryStore {
    /// Opens a sled store with `cache_bytes` of cache in `directory`, which it takes over.
    pub fn open(directory: TempDir, cache_bytes: u64) -> Result<Arc<Self>, StoreError> {
        let store = SledStore::open_with_cache(directory.path(), cache_bytes)?;
        Ok(Arc::new(DirectoryStore {
            store,
            _directory: directory,
        }))
    }
}

impl DocStore for DirectoryStore {
    fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        self.store.load(doc)
    }

    fn append(&self, doc: &str, update: &[u8]) -> Result<AppendReceipt, StoreError> {
        self.store.append(doc, update)
    }

    fn append_many(&self, appends: &[(&str, &[u8])]) -> Vec<Result<AppendReceipt, StoreError>> {
        self.store.append_many(appends)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    fn compact(&self, doc: &str, snapshot: &[u8], through: Seq) -> Result<(), StoreError> {
        self.store.compact(doc, snapshot, through)
    }

    fn list(&self) -> Result<Vec<DocMeta>, StoreError> {
        self.store.list()
    }

    fn list_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DocMeta>, StoreError> {
        self.store.list_page(after, limit)
    }

    fn metadata(&self, doc: &str) -> Result<Option<DocMeta>, StoreError> {
        self.store.metadata(doc)
    }

    fn delete(&self, doc: &str) -> Result<bool, StoreError> {
        self.store.delete(doc)
    }

    fn create_version(
        &self,
        doc: &str,
        label: &str,
        snapshot: &[u8],
    ) -> Result<VersionMeta, StoreError> {
        self.store.create_version(doc, label, snapshot)
    }

    fn list_versions(&self, doc: &str) -> Result<Vec<VersionMeta>, StoreError> {
        self.store.list_versions(doc)
    }

    fn load_version(
        &self,
        doc: &str,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError> {
        self.store.load_version(doc, version)
    }
}
