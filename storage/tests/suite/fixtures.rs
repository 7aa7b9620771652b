//! Fresh stores for each test, behind one object-safe test trait.

use storage::testing::RawRecordAccess;
use storage::{DocStore, MemoryStore, PostgresStore, SledStore};
use tempfile::TempDir;

/// A store the suite can both use and damage.
pub trait TestStore: DocStore + RawRecordAccess {}

impl<Store: DocStore + RawRecordAccess> TestStore for Store {}

/// Owns a store and, for sled, the temporary directory it lives in (PostgreSQL's
/// databases live as long as the test process's cluster).
pub struct Fixture {
    // Declared first so it is dropped (and sled closed) before the
    // directory is removed.
    store: Box<dyn TestStore>,
    _directory: Option<TempDir>,
}

impl Fixture {
    pub fn memory() -> Self {
        Fixture {
            store: Box::new(MemoryStore::new()),
            _directory: None,
        }
    }

    pub fn sled() -> Self {
        let directory = tempfile::tempdir().expect("create temporary directory");
        let store = SledStore::open(directory.path()).expect("open sled store");
        Fixture {
            store: Box::new(store),
            _directory: Some(directory),
        }
    }

    /// sled with an append log whose segments hold a few small updates each and fold as soon
    /// as one is closed.
    pub fn sled_folding() -> Self {
        let directory = tempfile::tempdir().expect("create temporary directory");
        let store = SledStore::open_with_limits(directory.path(), 8 << 20, folding_limits())
            .expect("open sled store");
        Fixture {
            store: Box::new(store),
            _directory: Some(directory),
        }
    }

    /// A store on a fresh database of the test process's PostgreSQL cluster.
    pub fn postgres() -> Self {
        let url = storage::testing::postgres::fresh_database_url();
        let store = PostgresStore::connect(&url).expect("connect PostgreSQL store");
        Fixture {
            store: Box::new(store),
            _directory: None,
        }
    }

    pub fn store(&self) -> &dyn TestStore {
        &*self.store
    }
}

/// Segments of a few hundred bytes, folded once one is closed.
pub fn folding_limits() -> storage::AppendLogLimits {
    storage::AppendLogLimits {
        segment_bytes: 300,
        closed_segments: 0,
    }
}

/// The payloads of a load's updates, for compact assertions.
pub fn update_payloads(loaded: &storage::LoadedDoc) -> Vec<Vec<u8>> {
    loaded
        .updates
        .iter()
        .map(|update| update.bytes.clone())
        .collect()
}

/// Appends `count` updates named `"<prefix>-<n>"` (n from 1).
pub fn append_numbered(store: &dyn TestStore, doc: &str, prefix: &str, count: u64) {
    for number in 1..=count {
        store
            .append(doc, format!("{prefix}-{number}").as_bytes())
            .expect("append");
    }
}

/// The payloads `append_numbered` would write for `numbers`.
pub fn numbered(prefix: &str, numbers: impl IntoIterator<Item = u64>) -> Vec<Vec<u8>> {
    numbers
        .into_iter()
        .map(|number| format!("{prefix}-{number}").into_bytes())
        .collect()
}
