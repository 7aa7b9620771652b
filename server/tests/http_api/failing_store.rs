//! A store that fails on purpose, to see what the API answers when storage breaks.

use std::path::PathBuf;

use storage::testing::{HookedStore, StoreHooks};
use storage::{DocMeta, DocStore, LoadedDoc, MemoryStore, StoreError};

/// Which operation of a [`FailingStore`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Listing documents.
    Listing,
    /// Loading a document's content (its metadata still reads).
    Loading,
}

/// The detail a failure carries; the API must not show it to clients.
pub const FAILURE_DETAIL: &str = "the disk caught fire";

/// A [`MemoryStore`] whose one operation, [`Failure`], always fails.
pub type FailingStore = HookedStore<MemoryStore, Failure>;

/// `inner`, already holding what a test needs, with `failure` from now on.
pub fn failing_store(inner: MemoryStore, failure: Failure) -> FailingStore {
    HookedStore::new(inner, failure)
}

impl Failure {
    fn check(self, operation: Failure) -> Result<(), StoreError> {
        if operation != self {
            return Ok(());
        }
        Err(StoreError::Io {
            path: PathBuf::from("/broken"),
            source: std::io::Error::other(FAILURE_DETAIL),
        })
    }
}

impl StoreHooks for Failure {
    fn load(&self, inner: &dyn DocStore, doc: &str) -> Result<LoadedDoc, StoreError> {
        self.check(Failure::Loading)?;
        inner.load(doc)
    }

    fn list(&self, inner: &dyn DocStore) -> Result<Vec<DocMeta>, StoreError> {
        self.check(Failure::Listing)?;
        inner.list()
    }

    fn list_page(
        &self,
        inner: &dyn DocStore,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocMeta>, StoreError> {
        self.check(Failure::Listing)?;
        inner.list_page(after, limit)
    }
}
