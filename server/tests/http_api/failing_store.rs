//! A store that fails on purpose, to see what the API answers when storage breaks.

use std::path::PathBuf;

use storage::{
    AppendReceipt, DocMeta, DocStore, LoadedDoc, MemoryStore, Seq, StoreError, VersionId,
    VersionMeta,
};

/// Which operation of a [`FailingStore`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Listing documents.
    Listing,
    /// Loading a document's content (its metadata still reads).
    Loading,
}

/// A [`MemoryStore`] whose one operation, [`Failure`], always fails.
pub struct FailingStore {
    inner: MemoryStore,
    failure: Failure,
}

/// The detail a failure carries; the API must not show it to clients.
pub const FAILURE_DETAIL: &str = "the disk caught fire";

impl FailingStore {
    /// `inner`, already holding what a test needs, with `failure` from now on.
    pub fn new(inner: MemoryStore, failure: Failure) -> Self {
        FailingStore { inner, failure }
    }

    fn check(&self, operation: Failure) -> Result<(), StoreError> {
        if operation != self.failure {
            return Ok(());
        }
        Err(StoreError::Io {
            path: PathBuf::from("/broken"),
            source: std::io::Error::other(FAILURE_DETAIL),
        })
    }
}

impl DocStore for FailingStore {
    fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        self.check(Failure::Loading)?;
        self.inner.load(doc)
    }

    fn append(&self, doc: &str, update: &[u8]) -> Result<AppendReceipt, StoreError> {
        self.inner.append(doc, update)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn compact(&self, doc: &str, snapshot: &[u8], through: Seq) -> Result<(), StoreError> {
        self.inner.compact(doc, snapshot, through)
    }

    fn list(&self) -> Result<Vec<DocMeta>, StoreError> {
        self.check(Failure::Listing)?;
        self.inner.list()
    }

    fn list_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DocMeta>, StoreError> {
        self.check(Failure::Listing)?;
        self.inner.list_page(after, limit)
    }

    fn metadata(&self, doc: &str) -> Result<Option<DocMeta>, StoreError> {
        self.inner.metadata(doc)
    }

    fn delete(&self, doc: &str) -> Result<bool, StoreError> {
        self.inner.delete(doc)
    }

    fn create_version(
        &self,
        doc: &str,
        label: &str,
        snapshot: &[u8],
    ) -> Result<VersionMeta, StoreError> {
        self.inner.create_version(doc, label, snapshot)
    }

    fn list_versions(&self, doc: &str) -> Result<Vec<VersionMeta>, StoreError> {
        self.inner.list_versions(doc)
    }

    fn load_version(
        &self,
        doc: &str,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError> {
        self.inner.load_version(doc, version)
    }
}
