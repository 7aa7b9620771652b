//! A store wrapped in hooks, for tests that need one call of a real store to behave otherwise:
//! fail, block until released, count, or own a resource that must outlive the store.
//!
//! Each such test wrapper used to repeat the whole [`DocStore`] delegation (a dozen methods) to
//! change one or two. Here the delegation is written once: [`HookedStore`] forwards every call
//! to its [`StoreHooks`], whose methods by default call the inner store, so a wrapper overrides
//! only the calls it changes. Test support: hidden from the docs, not a supported API.

use crate::change_log::ChangeLog;
use crate::document_kind::DocumentKind;
use crate::error::StoreError;
use crate::store::{AppendReceipt, DocMeta, DocStore, LoadedDoc, Seq};
use crate::version::{VersionId, VersionMeta};

/// What a [`HookedStore`] does on each call; every default calls `inner`.
#[doc(hidden)]
pub trait StoreHooks: Send + Sync + 'static {
    fn load(&self, inner: &dyn DocStore, doc: &str) -> Result<LoadedDoc, StoreError> {
        inner.load(doc)
    }

    fn create(
        &self,
        inner: &dyn DocStore,
        doc: &str,
        kind: DocumentKind,
    ) -> Result<bool, StoreError> {
        inner.create(doc, kind)
    }

    fn append(
        &self,
        inner: &dyn DocStore,
        doc: &str,
        update: &[u8],
    ) -> Result<AppendReceipt, StoreError> {
        inner.append(doc, update)
    }

    /// By default each append goes through [`StoreHooks::append`], so a hook on single appends
    /// also sees batched ones; override to keep the inner store's own batching.
    fn append_many(
        &self,
        inner: &dyn DocStore,
        appends: &[(&str, &[u8])],
    ) -> Vec<Result<AppendReceipt, StoreError>> {
        appends
            .iter()
            .map(|(doc, update)| self.append(inner, doc, update))
            .collect()
    }

    fn flush(&self, inner: &dyn DocStore) -> Result<(), StoreError> {
        inner.flush()
    }

    fn maintain(&self, inner: &dyn DocStore) -> Result<(), StoreError> {
        inner.maintain()
    }

    fn available_bytes(&self, inner: &dyn DocStore) -> Option<u64> {
        inner.available_bytes()
    }

    fn compact(
        &self,
        inner: &dyn DocStore,
        doc: &str,
        snapshot: &[u8],
        through: Seq,
    ) -> Result<(), StoreError> {
        inner.compact(doc, snapshot, through)
    }

    fn list(&self, inner: &dyn DocStore) -> Result<Vec<DocMeta>, StoreError> {
        inner.list()
    }

    fn list_page(
        &self,
        inner: &dyn DocStore,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocMeta>, StoreError> {
        inner.list_page(after, limit)
    }

    fn metadata(&self, inner: &dyn DocStore, doc: &str) -> Result<Option<DocMeta>, StoreError> {
        inner.metadata(doc)
    }

    fn delete(&self, inner: &dyn DocStore, doc: &str) -> Result<bool, StoreError> {
        inner.delete(doc)
    }

    fn create_version(
        &self,
        inner: &dyn DocStore,
        doc: &str,
        label: &str,
        snapshot: &[u8],
    ) -> Result<VersionMeta, StoreError> {
        inner.create_version(doc, label, snapshot)
    }

    fn list_versions(
        &self,
        inner: &dyn DocStore,
        doc: &str,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        inner.list_versions(doc)
    }

    fn load_version(
        &self,
        inner: &dyn DocStore,
        doc: &str,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError> {
        inner.load_version(doc, version)
    }
}

/// `inner` with every call going through `hooks`. Fields drop in order: the inner store closes
/// before the hooks go (a hook may own the store's directory).
#[doc(hidden)]
pub struct HookedStore<S, H> {
    pub inner: S,
    pub hooks: H,
}

impl<S: DocStore, H: StoreHooks> HookedStore<S, H> {
    pub fn new(inner: S, hooks: H) -> Self {
        HookedStore { inner, hooks }
    }
}

impl<S: DocStore, H: StoreHooks> DocStore for HookedStore<S, H> {
    fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        self.hooks.load(&self.inner, doc)
    }

    fn create(&self, doc: &str, kind: DocumentKind) -> Result<bool, StoreError> {
        self.hooks.create(&self.inner, doc, kind)
    }

    fn append(&self, doc: &str, update: &[u8]) -> Result<AppendReceipt, StoreError> {
        self.hooks.append(&self.inner, doc, update)
    }

    fn append_many(&self, appends: &[(&str, &[u8])]) -> Vec<Result<AppendReceipt, StoreError>> {
        self.hooks.append_many(&self.inner, appends)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.hooks.flush(&self.inner)
    }

    fn maintain(&self) -> Result<(), StoreError> {
        self.hooks.maintain(&self.inner)
    }

    fn available_bytes(&self) -> Option<u64> {
        self.hooks.available_bytes(&self.inner)
    }

    fn compact(&self, doc: &str, snapshot: &[u8], through: Seq) -> Result<(), StoreError> {
        self.hooks.compact(&self.inner, doc, snapshot, through)
    }

    fn list(&self) -> Result<Vec<DocMeta>, StoreError> {
        self.hooks.list(&self.inner)
    }

    fn list_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DocMeta>, StoreError> {
        self.hooks.list_page(&self.inner, after, limit)
    }

    fn metadata(&self, doc: &str) -> Result<Option<DocMeta>, StoreError> {
        self.hooks.metadata(&self.inner, doc)
    }

    fn delete(&self, doc: &str) -> Result<bool, StoreError> {
        self.hooks.delete(&self.inner, doc)
    }

    fn create_version(
        &self,
        doc: &str,
        label: &str,
        snapshot: &[u8],
    ) -> Result<VersionMeta, StoreError> {
        self.hooks.create_version(&self.inner, doc, label, snapshot)
    }

    fn list_versions(&self, doc: &str) -> Result<Vec<VersionMeta>, StoreError> {
        self.hooks.list_versions(&self.inner, doc)
    }

    fn load_version(
        &self,
        doc: &str,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError> {
        self.hooks.load_version(&self.inner, doc, version)
    }

    /// Not hooked: the change log is the inner store's, as it is.
    fn change_log(&self) -> Option<&dyn ChangeLog> {
        self.inner.change_log()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::MemoryStore;

    /// Counts appends and refuses flushes; everything else is the memory store's.
    #[derive(Default)]
    struct CountingHooks {
        appends: AtomicUsize,
    }

    impl StoreHooks for CountingHooks {
        fn append(
            &self,
            inner: &dyn DocStore,
            doc: &str,
            update: &[u8],
        ) -> Result<AppendReceipt, StoreError> {
            self.appends.fetch_add(1, Ordering::Relaxed);
            inner.append(doc, update)
        }

        fn flush(&self, _inner: &dyn DocStore) -> Result<(), StoreError> {
            Err(StoreError::Io {
                path: "hooked".into(),
                source: std::io::Error::other("refused by the hook"),
            })
        }
    }

    #[test]
    fn overridden_calls_go_to_the_hooks_and_the_rest_to_the_inner_store() {
        let store = HookedStore::new(MemoryStore::new(), CountingHooks::default());
        let receipts = store.append_many(&[("a", b"one"), ("b", b"two")]);
        assert!(receipts.iter().all(Result::is_ok));
        store.append("a", b"three").unwrap();
        assert_eq!(
            store.hooks.appends.load(Ordering::Relaxed),
            3,
            "batched appends are seen too"
        );
        assert!(store.flush().is_err(), "the hook's flush answers");
        assert_eq!(
            store.load("a").unwrap().updates.len(),
            2,
            "the inner store holds the appends"
        );
        assert_eq!(store.list().unwrap().len(), 2);
    }
}
