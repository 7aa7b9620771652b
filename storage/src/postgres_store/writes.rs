//! The writes that are durable when they return: create, compact, delete and create_version.
//!
//! Each is one statement or one transaction of its own on the writer connection, run by
//! `PostgresStore::write` after any pending appends are committed (see the module docs of
//! `postgres_store` for why they share the writer). Those that read before writing take the
//! document row with `FOR UPDATE`, so two nodes never compact (or number versions of) one
//! document at once, and an append from another node waits for the row instead of slipping
//! between the read and the write: updates appended with seq > `through` are never removed.

use postgres::Client;

use super::postgres_error;
use super::rows::{
    DOCUMENT_COLUMNS, DocumentRow, column, signed, time_of_millis, timestamp_of_millis, unsigned,
};
use crate::document_entry::now_millis;
use crate::document_kind::DocumentKind;
use crate::error::StoreError;
use crate::store::Seq;
use crate::version::{VersionId, VersionMeta};

fn kind_column(kind: DocumentKind) -> i16 {
    match kind {
        DocumentKind::Text => 0,
        DocumentKind::Rich => 1,
    }
}

pub(super) fn create(
    client: &mut Client,
    doc: &str,
    kind: DocumentKind,
) -> Result<bool, StoreError> {
    let statement = format!(
        "INSERT INTO documents (id, kind, updated_at) VALUES ($1, $2, {})
         ON CONFLICT (id) DO NOTHING",
        timestamp_of_millis(3)
    );
    let inserted = client
        .execute(
            statement.as_str(),
            &[&doc, &kind_column(kind), &signed(now_millis())],
        )
        .map_err(postgres_error)?;
    Ok(inserted == 1)
}

pub(super) fn compact(
    client: &mut Client,
    doc: &str,
    snapshot: &[u8],
    through: Seq,
) -> Result<(), StoreError> {
    let mut transaction = client.transaction().map_err(postgres_error)?;
    let now = signed(now_millis());
    if through == Seq::ZERO {
        // An import may create the document. Inserting first (and doing nothing if it exists)
        // also settles a race with another node creating it.
        let statement = format!(
            "INSERT INTO documents (id, updated_at) VALUES ($1, {})
             ON CONFLICT (id) DO NOTHING",
            timestamp_of_millis(2)
        );
        transaction
            .execute(statement.as_str(), &[&doc, &now])
            .map_err(postgres_error)?;
    }
    let statement = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1 FOR UPDATE");
    let row = transaction
        .query_opt(statement.as_str(), &[&doc])
        .map_err(postgres_error)?;
    let Some(row) = row else {
        // Only an import creates a document; anything else claims updates that do not exist.
        return Err(StoreError::CompactBeyondLog {
            doc: doc.to_owned(),
            through,
            last_seq: Seq::ZERO,
        });
    };
    DocumentRow::decode(doc, &row, 0)?.check_compaction(doc, through)?;
    let through = signed(through.0);
    // What remains of the log is counted rather than derived from the old counters, so any
    // earlier drift heals here, as in the other stores.
    let remaining = transaction
        .query_one(
            "WITH removed AS (DELETE FROM updates WHERE document = $1 AND seq <= $2)
             SELECT count(*), coalesce(sum(octet_length(bytes)), 0)::bigint
               FROM updates WHERE document = $1 AND seq > $2",
            &[&doc, &through],
        )
        .map_err(postgres_error)?;
    let statement = format!(
        "UPDATE documents SET snapshot = $2, snapshot_through = $3, log_records = $4,
                log_bytes = $5, updated_at = {}
          WHERE id = $1",
        timestamp_of_millis(6)
    );
    transaction
        .execute(
            statement.as_str(),
            &[
                &doc,
                &snapshot,
                &through,
                &column::<i64>(&remaining, 0)?,
                &column::<i64>(&remaining, 1)?,
                &now,
            ],
        )
        .map_err(postgres_error)?;
    transaction.commit().map_err(postgres_error)
}

pub(super) fn delete(client: &mut Client, doc: &str) -> Result<bool, StoreError> {
    // Updates and versions go with the row (ON DELETE CASCADE), in this one statement.
    let deleted = client
        .execute("DELETE FROM documents WHERE id = $1", &[&doc])
        .map_err(postgres_error)?;
    Ok(deleted == 1)
}

pub(super) fn create_version(
    client: &mut Client,
    doc: &str,
    label: &str,
    snapshot: &[u8],
) -> Result<VersionMeta, StoreError> {
    let mut transaction = client.transaction().map_err(postgres_error)?;
    // Taking the next id locks the row, so concurrent versions (from any node) get distinct ids;
    // the counter lives in the row, so a deleted and recreated document starts again from 1.
    let statement = format!(
        "UPDATE documents SET next_version = next_version + 1 WHERE id = $1
         RETURNING next_version - 1, {DOCUMENT_COLUMNS}"
    );
    let row = transaction
        .query_opt(statement.as_str(), &[&doc])
        .map_err(postgres_error)?
        .ok_or_else(|| StoreError::UnknownDocument {
            doc: doc.to_owned(),
        })?;
    // A damaged row is an error here too, as a damaged entry is in the other stores.
    DocumentRow::decode(doc, &row, 1)?;
    let id = unsigned(doc, &row, 0, "next_version")?;
    let created_at = now_millis();
    let statement = format!(
        "INSERT INTO versions (document, id, label, created_at, snapshot)
         VALUES ($1, $2, $3, {}, $5)",
        timestamp_of_millis(4)
    );
    transaction
        .execute(
            statement.as_str(),
            &[&doc, &signed(id), &label, &signed(created_at), &snapshot],
        )
        .map_err(postgres_error)?;
    transaction.commit().map_err(postgres_error)?;
    Ok(VersionMeta {
        id: VersionId(id),
        label: label.to_owned(),
        created_at: time_of_millis(created_at),
        bytes: snapshot.len() as u64,
    })
}
