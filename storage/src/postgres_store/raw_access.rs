//! Test-only raw access to stored values, so the shared suite can remove or alter rows.
//!
//! PostgreSQL keeps plain values, not sled's framed records, so only the slots that exist as
//! values here are reachable: an update's bytes, the snapshot and a version's snapshot. The
//! document entry and version entries are rows of columns, not encoded values, and report
//! themselves absent; the suite's scenarios about record framing therefore run on the sled and
//! memory stores only. Everything goes through the writer connection so it sees, and changes,
//! appends not yet flushed, as the suite's scenarios expect.

use std::sync::Arc;

use super::PostgresStore;
use crate::testing::{RawRecordAccess, RawSlot};

impl PostgresStore {
    /// Runs one raw statement on the writer; `None` if it failed (test support: the failure is
    /// what the test sees, as a slot it could not reach).
    fn raw<T>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Option<T> {
        let mut writer = self.writer();
        let client = writer.client(&self.connector).ok()?;
        match work(client) {
            Ok(value) => Some(value),
            Err(error) => {
                writer.abandon(&Arc::new(error));
                None
            }
        }
    }
}

fn signed(value: u64) -> i64 {
    super::rows::signed(value)
}

impl RawRecordAccess for PostgresStore {
    fn read_raw(&self, doc: &str, slot: RawSlot) -> Option<Vec<u8>> {
        let (statement, key) = match slot {
            RawSlot::Update(seq) => (
                "SELECT bytes FROM updates WHERE document = $1 AND seq = $2",
                signed(seq.0),
            ),
            RawSlot::Snapshot => ("SELECT snapshot FROM documents WHERE id = $1 AND $2 = 0", 0),
            RawSlot::VersionSnapshot(id) => (
                "SELECT snapshot FROM versions WHERE document = $1 AND id = $2",
                signed(id.0),
            ),
            RawSlot::Entry | RawSlot::VersionEntry(_) => return None,
        };
        self.raw(|client| {
            let row = client.query_opt(statement, &[&doc, &key])?;
            row.map(|row| row.try_get::<_, Option<Vec<u8>>>(0))
                .transpose()
                .map(Option::flatten)
        })?
    }

    fn write_raw(&self, doc: &str, slot: RawSlot, bytes: Option<&[u8]>) -> bool {
        let (statement, key) = match (slot, bytes) {
            (RawSlot::Update(seq), Some(_)) => (
                "INSERT INTO updates (document, seq, bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (document, seq) DO UPDATE SET bytes = excluded.bytes",
                signed(seq.0),
            ),
            (RawSlot::Update(seq), None) => (
                "DELETE FROM updates WHERE document = $1 AND seq = $2 AND $3::bytea IS NULL",
                signed(seq.0),
            ),
            (RawSlot::Snapshot, _) => (
                "UPDATE documents SET snapshot = $3 WHERE id = $1 AND $2 = 0",
                0,
            ),
            (RawSlot::VersionSnapshot(id), Some(_)) => (
                "UPDATE versions SET snapshot = $3 WHERE document = $1 AND id = $2",
                signed(id.0),
            ),
            // A version's snapshot column cannot be empty, nor is there an entry value.
            (RawSlot::VersionSnapshot(_), None)
            | (RawSlot::Entry | RawSlot::VersionEntry(_), _) => {
                return false;
            }
        };
        let exists = self.raw(|client| {
            client
                .query_opt("SELECT 1 FROM documents WHERE id = $1", &[&doc])
                .map(|row| row.is_some())
        });
        exists == Some(true)
            && self
                .raw(|client| client.execute(statement, &[&doc, &key, &bytes]))
                .is_some()
    }
}
