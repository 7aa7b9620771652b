//! Reading documents, listings and versions back from PostgreSQL.
//!
//! Each read is one statement, so under READ COMMITTED it sees one snapshot of the database:
//! a load never pairs a document row from before a compaction with the update rows after it
//! (which would look like missing updates). That is why `load` fetches the row and its log
//! with one `UNION ALL` rather than two queries or a REPEATABLE READ transaction (four round
//! trips instead of one). These functions run on whichever connection `PostgresStore::read`
//! picks; they never write.

use postgres::Client;

use super::postgres_error;
use super::rows::{DOCUMENT_COLUMNS, DocumentRow, column, signed, time_of_millis, unsigned};
use crate::error::StoreError;
use crate::store::{
    Corruption, CorruptionReason, DocMeta, LoadedDoc, LoadedUpdate, RecordLocation, Seq,
};
use crate::version::{VersionId, VersionMeta};

/// The document row first (part 0, with the snapshot as `bytes`), then its updates after the
/// snapshot in seq order (part 1). Updates beyond `last_seq` cannot exist (they are written in
/// the same transaction as the counter) and are ignored if they somehow do.
fn load_statement() -> String {
    format!(
        "SELECT 0 AS part, 0::bigint AS seq, snapshot AS bytes, {DOCUMENT_COLUMNS}
           FROM documents WHERE id = $1
         UNION ALL
         SELECT 1, u.seq, u.bytes, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
           FROM updates u JOIN documents d ON d.id = u.document
          WHERE u.document = $1 AND u.seq > d.snapshot_through AND u.seq <= d.last_seq
         ORDER BY part, seq"
    )
}

pub(super) fn load(client: &mut Client, doc: &str) -> Result<LoadedDoc, StoreError> {
    let rows = client
        .query(load_statement().as_str(), &[&doc])
        .map_err(postgres_error)?;
    let Some((first, updates)) = rows.split_first() else {
        return Ok(LoadedDoc::default());
    };
    let document = DocumentRow::decode(doc, first, 3)?;
    let mut loaded = LoadedDoc {
        last_seq: document.last_seq,
        snapshot_through: document.snapshot_through,
        snapshot: if document.has_snapshot {
            column::<Option<Vec<u8>>>(first, 2)?
        } else {
            None
        },
        ..LoadedDoc::default()
    };
    // The log must continue the snapshot without a hole: a gap means rows were lost (removed
    // by hand, say), and applying what follows it would build a different document.
    let mut expected = document.snapshot_through.next();
    for row in updates {
        let seq = Seq(unsigned(doc, row, 1, "update seq")?);
        if seq != expected {
            break;
        }
        loaded.updates.push(LoadedUpdate {
            seq,
            bytes: column::<Vec<u8>>(row, 2)?,
        });
        expected = seq.next();
    }
    if expected <= document.last_seq {
        loaded.corruption = Some(Corruption {
            location: RecordLocation::Update(expected),
            reason: CorruptionReason::Missing,
        });
    }
    Ok(loaded)
}

/// Documents in id (byte) order after `after`, at most `limit` of them.
pub(super) fn list(
    client: &mut Client,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<DocMeta>, StoreError> {
    let statement = format!(
        "SELECT id, {DOCUMENT_COLUMNS} FROM documents
          WHERE $1::text IS NULL OR id > $1::text COLLATE \"C\"
          ORDER BY id LIMIT $2"
    );
    let rows = client
        .query(statement.as_str(), &[&after, &limit])
        .map_err(postgres_error)?;
    rows.iter()
        .map(|row| {
            let id = column::<String>(row, 0)?;
            // One damaged row is shown as such rather than failing the whole listing.
            Ok(match DocumentRow::decode(&id, row, 1) {
                Ok(document) => document.to_meta(&id),
                Err(StoreError::CorruptEntry { .. }) => DocMeta::damaged(&id),
                Err(other) => return Err(other),
            })
        })
        .collect()
}

pub(super) fn metadata(client: &mut Client, doc: &str) -> Result<Option<DocMeta>, StoreError> {
    let statement = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1");
    let row = client
        .query_opt(statement.as_str(), &[&doc])
        .map_err(postgres_error)?;
    row.map(|row| Ok(DocumentRow::decode(doc, &row, 0)?.to_meta(doc)))
        .transpose()
}

/// The version columns `version_meta` reads, from column 0.
const VERSION_COLUMNS: &str = "id, label, (extract(epoch FROM created_at) * 1000)::bigint, \
     octet_length(snapshot)::bigint";

fn version_meta(doc: &str, row: &postgres::Row) -> Result<VersionMeta, StoreError> {
    Ok(VersionMeta {
        id: VersionId(unsigned(doc, row, 0, "version id")?),
        label: column::<String>(row, 1)?,
        created_at: time_of_millis(unsigned(doc, row, 2, "version created_at")?),
        bytes: unsigned(doc, row, 3, "version length")?,
    })
}

pub(super) fn list_versions(
    client: &mut Client,
    doc: &str,
) -> Result<Vec<VersionMeta>, StoreError> {
    let statement =
        format!("SELECT {VERSION_COLUMNS} FROM versions WHERE document = $1 ORDER BY id");
    client
        .query(statement.as_str(), &[&doc])
        .map_err(postgres_error)?
        .iter()
        .map(|row| version_meta(doc, row))
        .collect()
}

pub(super) fn load_version(
    client: &mut Client,
    doc: &str,
    version: VersionId,
) -> Result<Option<(VersionMeta, Vec<u8>)>, StoreError> {
    let statement =
        format!("SELECT {VERSION_COLUMNS}, snapshot FROM versions WHERE document = $1 AND id = $2");
    let row = client
        .query_opt(statement.as_str(), &[&doc, &signed(version.0)])
        .map_err(postgres_error)?;
    row.map(|row| Ok((version_meta(doc, &row)?, column::<Vec<u8>>(&row, 4)?)))
        .transpose()
}
