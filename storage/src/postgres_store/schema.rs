//! The PostgreSQL schema and its migrations, applied when a store connects.
//!
//! Migrations are numbered DDL scripts; `schema_version` records which have run. All pending
//! ones run in one transaction, under a transaction-scoped advisory lock, so two nodes starting
//! at once neither race on `CREATE TABLE` nor see a half-migrated schema: the second waits,
//! then finds nothing left to do. A database migrated by a newer build (a version above the
//! last one known here) is refused rather than used with assumptions that may no longer hold.

use postgres::Client;

use super::postgres_error;
use super::rows::column;
use crate::error::StoreError;

/// The advisory lock key migrations hold ("quire" in ASCII), shared by every node.
const MIGRATION_LOCK: i64 = 0x71_75_69_72_65;

/// The migrations, in order; entry `n` brings the schema to version `n + 1`. Never edit one
/// that has shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: documents, their update logs and their versions.
    r#"
    CREATE TABLE documents (
        id text COLLATE "C" PRIMARY KEY,
        kind smallint NOT NULL DEFAULT 0 CHECK (kind IN (0, 1)),
        last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
        snapshot bytea,
        snapshot_through bigint NOT NULL DEFAULT 0
            CHECK (snapshot_through >= 0 AND snapshot_through <= last_seq),
        log_records bigint NOT NULL DEFAULT 0 CHECK (log_records >= 0),
        log_bytes bigint NOT NULL DEFAULT 0 CHECK (log_bytes >= 0),
        updated_at timestamptz NOT NULL DEFAULT now(),
        next_version bigint NOT NULL DEFAULT 1 CHECK (next_version >= 1)
    );
    CREATE TABLE updates (
        document text COLLATE "C" NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
        seq bigint NOT NULL CHECK (seq >= 1),
        bytes bytea NOT NULL,
        PRIMARY KEY (document, seq)
    );
    CREATE TABLE versions (
        document text COLLATE "C" NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
        id bigint NOT NULL CHECK (id >= 1),
        label text NOT NULL,
        created_at timestamptz NOT NULL,
        snapshot bytea NOT NULL,
        PRIMARY KEY (document, id)
    );
    "#,
];

/// The schema version this build reads and writes.
pub(super) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database's schema up to [`SCHEMA_VERSION`].
pub(super) fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut transaction = client.transaction().map_err(postgres_error)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(postgres_error)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .map_err(postgres_error)?;
    let row = transaction
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .map_err(postgres_error)?;
    let found = column::<i32>(&row, 0)?;
    let found = u32::try_from(found).unwrap_or(u32::MAX);
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedFormat {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, script) in (1..).zip(MIGRATIONS).skip(found as usize) {
        transaction.batch_execute(script).map_err(postgres_error)?;
        transaction
            .execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&version],
            )
            .map_err(postgres_error)?;
    }
    transaction.commit().map_err(postgres_error)
}
