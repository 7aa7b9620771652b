//! Test support, hidden from the docs and not part of the supported API.
//!
//! - Raw access to stored values, for tests that damage records on purpose.
//!   Corruption handling can only be tested by corrupting something, and the
//!   shared test suite must do it the same way for every store. It bypasses
//!   every check and checksum.
//! - [`HookedStore`] and [`StoreHooks`]: a real store with one call made to
//!   behave otherwise (see `hooked_store`).
//! - [`postgres`]: throwaway PostgreSQL servers and databases for tests of
//!   `PostgresStore` (here, not under `tests/`, so the server's tests can use
//!   them too).

pub mod postgres;

pub use crate::hooked_store::{HookedStore, StoreHooks};
use crate::store::Seq;
use crate::version::VersionId;

/// Which stored value of a document to reach.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawSlot {
    /// The document's bookkeeping entry.
    Entry,
    /// The document's snapshot record.
    Snapshot,
    /// The update record at this seq.
    Update(Seq),
    /// The entry record of this version.
    VersionEntry(VersionId),
    /// The snapshot record of this version.
    VersionSnapshot(VersionId),
}

/// Reads and overwrites stored values verbatim. Test support only.
#[doc(hidden)]
pub trait RawRecordAccess {
    /// The stored bytes in `slot`, or `None` if the slot (or the document,
    /// or for record slots a readable entry) does not exist.
    fn read_raw(&self, doc: &str, slot: RawSlot) -> Option<Vec<u8>>;

    /// Stores `bytes` verbatim in `slot`, or removes the value when `None`.
    /// Returns false if the slot could not be located (unknown document, or
    /// for record slots an unreadable entry).
    fn write_raw(&self, doc: &str, slot: RawSlot, bytes: Option<&[u8]>) -> bool;
}
