//! A `DocStore` in PostgreSQL, so several Quire nodes can share one set of documents.
//!
//! Schema (version 1, applied at connect by `schema`):
//!
//! ```text
//! documents(id text COLLATE "C" PK, kind smallint, last_seq bigint, snapshot bytea NULL,
//!           snapshot_through bigint, log_records bigint, log_bytes bigint,
//!           updated_at timestamptz, next_version bigint)
//! updates(document -> documents ON DELETE CASCADE, seq bigint, bytes bytea, PK(document, seq))
//! versions(document -> documents ON DELETE CASCADE, id bigint, label text,
//!          created_at timestamptz, snapshot bytea, PK(document, id))
//! schema_version(version integer PK, applied_at timestamptz)
//! ```
//!
//! `COLLATE "C"` makes `ORDER BY id` byte order, which the listing contract asks for. Values are
//! stored raw, without sled's CRC'd record framing: PostgreSQL checks its own pages, and CHECK
//! constraints keep counters sane. A row that still holds an impossible value is reported as
//! `StoreError::CorruptEntry`, never a panic. A gap in a document's updates is reported as a
//! `Missing` record by `load`, as the other stores do.
//!
//! Connections (`connections`): one **writer** connection, behind a mutex, does every write;
//! a small bounded pool serves reads. Group commit (`appends`): `append_many` opens (or
//! continues) a transaction on the writer, locks the touched document rows in sorted id order
//! and assigns seqs from `last_seq`; `flush` commits it, so one flush is one transaction however
//! many appends it holds. Uncommitted appends are visible only on the writer connection, so a
//! read of a document with appends pending (and any listing while some are) runs there; other
//! reads use the pool and never wait for the writer. Seqs stay gapless across nodes because a
//! second node's append blocks on the row lock until the first commits (or rolls back).
//!
//! `create`, `compact`, `delete` and `create_version` also run on the writer: they first commit
//! the pending appends (which become durable earlier than the flush, as the trait allows), then
//! run in their own transaction. Running them on another connection would deadlock: they would
//! wait for row locks the writer's open transaction holds until a flush that cannot come while
//! the caller waits.
//!
//! Failures: a failed statement or connection is [`StoreError::Postgres`]. A connection found
//! broken is dropped and a new one opened by the next operation, so the store outlives a
//! PostgreSQL restart. When the writer's transaction fails, its appends are gone: the calls
//! that hit the failure get the error, and the next `flush` returns it (rolling back whatever
//! was appended since, so a failed flush always means "nothing since the last flush is
//! stored"); appends go on meanwhile in a new transaction.
//!
//! A node claims the database as it starts (`claim`): alone, or with the nodes of its cluster,
//! never both at once, since two nodes unaware of each other would lose each other's updates
//! to compaction.
//!
//! Out of scope for now: the change log (`change_log()` is `None`, so webhooks and
//! `/api/changes` need the sled store) and `available_bytes` (`None`: the disk is the
//! database server's).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::document_id::validate_document_id;
use crate::document_kind::DocumentKind;
use crate::error::StoreError;
use crate::store::{AppendReceipt, DocMeta, DocStore, LoadedDoc, Seq};
use crate::version::{VersionId, VersionMeta, validate_version_label};

mod appends;
mod claim;
mod connections;
mod raw_access;
mod reads;
mod rows;
mod schema;
mod writes;

pub use claim::{DatabaseClaim, Sharing};
use connections::{Connector, PendingDocuments, ReadPool, WriterState};

/// A `DocStore` kept in a PostgreSQL database, shareable by several nodes.
pub struct PostgresStore {
    connector: Connector,
    writer: Mutex<WriterState>,
    /// The writer's `pending`, readable without its lock.
    pending: Arc<PendingDocuments>,
    readers: ReadPool,
}

/// Wraps a driver error; shared so a batch's appends can all carry it.
fn postgres_error(error: postgres::Error) -> StoreError {
    StoreError::Postgres(Arc::new(error))
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL or a libpq key=value string) and
    /// brings its schema up to date. Fails if the database is unreachable, or with
    /// [`StoreError::UnsupportedFormat`] if a newer build has migrated it further.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let connector = Connector::new(url)?;
        let mut writer = WriterState::default();
        schema::migrate(writer.client(&connector)?)?;
        Ok(PostgresStore {
            connector,
            pending: Arc::clone(&writer.pending),
            writer: Mutex::new(writer),
            readers: ReadPool::default(),
        })
    }

    fn writer(&self) -> MutexGuard<'_, WriterState> {
        // The state is rebuilt from the database on failure, so a panic while holding it leaves
        // nothing worse than a broken connection, which the next operation replaces.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PostgresStore")
            .finish_non_exhaustive()
    }
}

impl DocStore for PostgresStore {
    fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        validate_document_id(doc)?;
        self.read(Some(doc), |client| reads::load(client, doc))
    }

    fn load_committed(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        validate_document_id(doc)?;
        // A pooled connection sees committed rows only.
        self.readers
            .with_client(&self.connector, |client| reads::load(client, doc))
    }

    fn discard_unflushed(&self) {
        let mut writer = self.writer();
        writer.pending.clear();
        writer.roll_back();
    }

    fn create(&self, doc: &str, kind: DocumentKind) -> Result<bool, StoreError> {
        validate_document_id(doc)?;
        self.write(|client| writes::create(client, doc, kind))
    }

    fn append(&self, doc: &str, update: &[u8]) -> Result<AppendReceipt, StoreError> {
        self.append_many(&[(doc, update)])
            .pop()
            .unwrap_or_else(|| unreachable!("one receipt per append"))
    }

    fn append_many(&self, appends: &[(&str, &[u8])]) -> Vec<Result<AppendReceipt, StoreError>> {
        appends::append_many(self, appends)
    }

    fn flush(&self) -> Result<(), StoreError> {
        appends::flush(self)
    }

    fn check_reachable(&self) -> Result<(), StoreError> {
        // A round trip on a read connection: it needs no lock the writer may hold.
        self.readers.with_client(&self.connector, |client| {
            client.batch_execute("SELECT 1").map_err(postgres_error)
        })
    }

    fn compact(&self, doc: &str, snapshot: &[u8], through: Seq) -> Result<(), StoreError> {
        validate_document_id(doc)?;
        rows::check_payload(snapshot)?;
        self.write(|client| writes::compact(client, doc, snapshot, through))
    }

    fn list(&self) -> Result<Vec<DocMeta>, StoreError> {
        self.read(None, |client| reads::list(client, None, None))
    }

    fn list_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DocMeta>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(None, |client| reads::list(client, after, Some(limit)))
    }

    fn metadata(&self, doc: &str) -> Result<Option<DocMeta>, StoreError> {
        validate_document_id(doc)?;
        self.read(Some(doc), |client| reads::metadata(client, doc))
    }

    fn delete(&self, doc: &str) -> Result<bool, StoreError> {
        validate_document_id(doc)?;
        self.write(|client| writes::delete(client, doc))
    }

    fn create_version(
        &self,
        doc: &str,
        label: &str,
        snapshot: &[u8],
    ) -> Result<VersionMeta, StoreError> {
        validate_document_id(doc)?;
        validate_version_label(label)?;
        rows::check_payload(snapshot)?;
        self.write(|client| writes::create_version(client, doc, label, snapshot))
    }

    fn list_versions(&self, doc: &str) -> Result<Vec<VersionMeta>, StoreError> {
        validate_document_id(doc)?;
        // Versions are only written on the writer after committing, so the pool sees them all.
        self.read(Some(doc), |client| reads::list_versions(client, doc))
    }

    fn load_version(
        &self,
        doc: &str,
        version: VersionId,
    ) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError> {
        validate_document_id(doc)?;
        self.read(Some(doc), |client| {
            reads::load_version(client, doc, version)
        })
    }
}
