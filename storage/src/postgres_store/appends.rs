//! Group commit: appends join one transaction on the writer connection, `flush` commits it.
//!
//! An `append_many` is two statements however many updates it carries (three with the BEGIN
//! of a new transaction), not one per update:
//!
//! 1. an upsert of every touched document row, in sorted id order, that inserts missing rows
//!    and adds each document's count and bytes to its counters, returning the new `last_seq`.
//!    The rows stay locked until the transaction ends, so another node appending to the same
//!    document waits and then continues from the committed `last_seq`: seqs stay gapless and
//!    unique across nodes, and a rolled-back transaction takes its seqs back with it. Locking
//!    in sorted order means two nodes' batches cannot deadlock on each other (a node that
//!    appends several batches before one flush can still meet another in a cycle; PostgreSQL
//!    then aborts one, whose flush fails and whose clients resync).
//! 2. `INSERT ... SELECT FROM unnest(...)` of the updates with the seqs derived from step 1,
//!    chunked so no statement carries more than `CHUNK_BYTES`.
//!
//! Appends refused on their own (a bad id, an oversized payload, a damaged document row) never
//! reach the transaction, so they cannot spoil the rest of the batch.

use std::collections::BTreeMap;
use std::sync::Arc;

use postgres::Client;

use super::PostgresStore;
use super::connections::{Connector, WriterState};
use super::rows::{DOCUMENT_COLUMNS, DocumentRow, check_payload, timestamp_of_millis};
use crate::document_entry::{EntryError, now_millis};
use crate::document_id::validate_document_id;
use crate::error::StoreError;
use crate::store::{AppendReceipt, Seq};

/// Most payload bytes one INSERT carries: far below PostgreSQL's 1 GB message limit, large
/// enough that ordinary batches are one statement.
const CHUNK_BYTES: usize = 64 << 20;

/// Most rows one INSERT carries.
const CHUNK_ROWS: usize = 1000;

/// One document's share of a batch: how many appends and bytes, and after the upsert, its
/// counters as they stand with the whole share counted, or why it was refused.
struct Share {
    count: i64,
    bytes: i64,
    outcome: Option<Result<Counters, StoreError>>,
}

#[derive(Clone, Copy)]
struct Counters {
    last_seq: u64,
    log_records: u64,
    log_bytes: u64,
    created: bool,
}

pub(super) fn append_many(
    store: &PostgresStore,
    appends: &[(&str, &[u8])],
) -> Vec<Result<AppendReceipt, StoreError>> {
    let refusals: Vec<Option<StoreError>> = appends
        .iter()
        .map(|(doc, update)| {
            validate_document_id(doc)
                .map_err(StoreError::from)
                .and_then(|()| check_payload(update))
                .err()
        })
        .collect();
    let mut shares: BTreeMap<&str, Share> = BTreeMap::new();
    for ((doc, update), refusal) in appends.iter().zip(&refusals) {
        if refusal.is_none() {
            let share = shares.entry(doc).or_insert(Share {
                count: 0,
                bytes: 0,
                outcome: None,
            });
            share.count += 1;
            share.bytes += update.len() as i64;
        }
    }
    let failure = if shares.is_empty() {
        None
    } else {
        // After a lost transaction these go into a new one, which the next flush rolls back
        // while it reports the loss (see `WriterState::settle`): refusing them instead would
        // wedge a caller that skips flushing while appends fail.
        let mut writer = store.writer();
        write(
            &mut writer,
            &store.connector,
            appends,
            &refusals,
            &mut shares,
        )
        .err()
    };
    receipts(appends, refusals, &mut shares, failure)
}

/// Runs the batch's statements, filling each share's outcome.
fn write(
    writer: &mut WriterState,
    connector: &Connector,
    appends: &[(&str, &[u8])],
    refusals: &[Option<StoreError>],
    shares: &mut BTreeMap<&str, Share>,
) -> Result<(), Arc<postgres::Error>> {
    let opened = writer.pending.is_empty();
    let client = match writer.client(connector) {
        Ok(client) => client,
        Err(StoreError::Postgres(error)) => return Err(error),
        Err(_) => unreachable!("connecting fails only with a PostgreSQL error"),
    };
    let written = statements(client, opened, appends, refusals, shares);
    match written {
        Ok(()) => {
            for (doc, share) in shares.iter() {
                if matches!(share.outcome, Some(Ok(_))) {
                    writer.pending.insert(doc);
                }
            }
            if writer.pending.is_empty() && opened {
                // Every document was refused: end the (empty) transaction this call opened.
                writer.roll_back();
            }
            Ok(())
        }
        Err(error) => {
            let error = Arc::new(error);
            writer.abandon(&error);
            Err(error)
        }
    }
}

fn statements(
    client: &mut Client,
    open: bool,
    appends: &[(&str, &[u8])],
    refusals: &[Option<StoreError>],
    shares: &mut BTreeMap<&str, Share>,
) -> Result<(), postgres::Error> {
    if open {
        client.batch_execute("BEGIN")?;
    }
    let ids: Vec<&str> = shares.keys().copied().collect();
    let counts: Vec<i64> = shares.values().map(|share| share.count).collect();
    let bytes: Vec<i64> = shares.values().map(|share| share.bytes).collect();
    // The WHERE leaves a row with impossible values untouched (it is still locked, and not
    // returned): its appends are refused below instead of building on garbage.
    let upsert = format!(
        "INSERT INTO documents AS d (id, last_seq, log_records, log_bytes, updated_at)
         SELECT id, n, n, b, {} FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(id, n, b)
          ORDER BY id COLLATE \"C\"
         ON CONFLICT (id) DO UPDATE SET last_seq = d.last_seq + excluded.last_seq,
                log_records = d.log_records + excluded.log_records,
                log_bytes = d.log_bytes + excluded.log_bytes, updated_at = excluded.updated_at
          WHERE d.kind IN (0, 1) AND d.last_seq >= 0 AND d.log_records >= 0
                AND d.log_bytes >= 0 AND d.snapshot_through BETWEEN 0 AND d.last_seq
                AND (d.snapshot IS NOT NULL OR d.snapshot_through = 0)
         RETURNING id, last_seq, log_records, log_bytes, xmax::text = '0'",
        timestamp_of_millis(4)
    );
    let now = i64::try_from(now_millis()).unwrap_or(i64::MAX);
    let rows = client.query(upsert.as_str(), &[&ids, &counts, &bytes, &now])?;
    for row in &rows {
        let id: &str = row.try_get(0)?;
        let number = |index| {
            let value: i64 = row.try_get(index)?;
            // The WHERE above admitted only rows with non-negative counters, and adding to them
            // keeps them so (or fails the CHECK constraints).
            Ok::<_, postgres::Error>(u64::try_from(value).unwrap_or_default())
        };
        let counters = Counters {
            last_seq: number(1)?,
            log_records: number(2)?,
            log_bytes: number(3)?,
            created: row.try_get(4)?,
        };
        if let Some(share) = shares.get_mut(id) {
            share.outcome = Some(Ok(counters));
        }
    }
    for (doc, share) in shares.iter_mut() {
        if share.outcome.is_none() {
            share.outcome = Some(Err(describe_damage(client, doc)?));
        }
    }
    insert_updates(client, appends, refusals, shares)
}

/// Why a document row the upsert would not touch is damaged.
fn describe_damage(client: &mut Client, doc: &str) -> Result<StoreError, postgres::Error> {
    let statement = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1");
    let row = client.query_one(statement.as_str(), &[&doc])?;
    Ok(match DocumentRow::decode(doc, &row, 0) {
        Err(error) => error,
        // Decoding checks what the upsert's WHERE does, so this is only reached if they drift.
        Ok(_) => StoreError::CorruptEntry {
            doc: doc.to_owned(),
            source: EntryError::ImpossibleValue {
                field: "row",
                value: 0,
            },
        },
    })
}

/// Inserts the accepted updates with their seqs, a chunk per statement.
fn insert_updates(
    client: &mut Client,
    appends: &[(&str, &[u8])],
    refusals: &[Option<StoreError>],
    shares: &BTreeMap<&str, Share>,
) -> Result<(), postgres::Error> {
    let mut next_seqs: BTreeMap<&str, u64> = shares
        .iter()
        .filter_map(|(doc, share)| match &share.outcome {
            Some(Ok(counters)) => Some((*doc, first_seq(counters, share))),
            _ => None,
        })
        .collect();
    let mut chunk = Chunk::default();
    for ((doc, update), refusal) in appends.iter().zip(refusals) {
        let Some(seq) = next_seqs.get_mut(doc).filter(|_| refusal.is_none()) else {
            continue;
        };
        if chunk.full_with(update.len()) {
            chunk.insert(client)?;
        }
        chunk.documents.push(doc);
        chunk.seqs.push(i64::try_from(*seq).unwrap_or(i64::MAX));
        chunk.updates.push(update);
        chunk.bytes += update.len();
        *seq += 1;
    }
    chunk.insert(client)
}

#[derive(Default)]
struct Chunk<'batch> {
    documents: Vec<&'batch str>,
    seqs: Vec<i64>,
    updates: Vec<&'batch [u8]>,
    bytes: usize,
}

impl Chunk<'_> {
    fn full_with(&self, more_bytes: usize) -> bool {
        !self.documents.is_empty()
            && (self.documents.len() >= CHUNK_ROWS || self.bytes + more_bytes > CHUNK_BYTES)
    }

    fn insert(&mut self, client: &mut Client) -> Result<(), postgres::Error> {
        if self.documents.is_empty() {
            return Ok(());
        }
        client.execute(
            "INSERT INTO updates (document, seq, bytes)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])",
            &[&self.documents, &self.seqs, &self.updates],
        )?;
        *self = Chunk::default();
        Ok(())
    }
}

/// The seq of a share's first append: its appends took the last `count` seqs.
fn first_seq(counters: &Counters, share: &Share) -> u64 {
    counters
        .last_seq
        .saturating_sub(u64::try_from(share.count).unwrap_or_default())
        + 1
}

/// Each append's receipt or error, in the order given.
fn receipts(
    appends: &[(&str, &[u8])],
    refusals: Vec<Option<StoreError>>,
    shares: &mut BTreeMap<&str, Share>,
    failure: Option<Arc<postgres::Error>>,
) -> Vec<Result<AppendReceipt, StoreError>> {
    // Per document: the next append's seq, records and bytes before it, and whether it is
    // the one that created the document.
    let mut running: BTreeMap<&str, (u64, u64, u64, bool)> = BTreeMap::new();
    for (doc, share) in shares.iter() {
        if let Some(Ok(counters)) = &share.outcome {
            let count = u64::try_from(share.count).unwrap_or_default();
            let bytes = u64::try_from(share.bytes).unwrap_or_default();
            running.insert(
                doc,
                (
                    first_seq(counters, share),
                    counters.log_records.saturating_sub(count),
                    counters.log_bytes.saturating_sub(bytes),
                    counters.created,
                ),
            );
        }
    }
    appends
        .iter()
        .zip(refusals)
        .map(|((doc, update), refusal)| {
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
            if let Some(failure) = &failure {
                return Err(StoreError::Postgres(Arc::clone(failure)));
            }
            match running.get_mut(doc) {
                Some((seq, records, bytes, created)) => {
                    let receipt = AppendReceipt {
                        seq: Seq(*seq),
                        log_records: *records + 1,
                        log_bytes: *bytes + update.len() as u64,
                        created: *created,
                    };
                    *seq += 1;
                    *records += 1;
                    *bytes += update.len() as u64;
                    *created = false;
                    Ok(receipt)
                }
                None => Err(damage_of(shares, doc)),
            }
        })
        .collect()
}

/// The refusal of an append to a document whose row is damaged.
fn damage_of(shares: &BTreeMap<&str, Share>, doc: &str) -> StoreError {
    let source = match shares.get(doc).and_then(|share| share.outcome.as_ref()) {
        Some(Err(StoreError::CorruptEntry { source, .. })) => source.clone(),
        _ => EntryError::ImpossibleValue {
            field: "row",
            value: 0,
        },
    };
    StoreError::CorruptEntry {
        doc: doc.to_owned(),
        source,
    }
}

pub(super) fn flush(store: &PostgresStore) -> Result<(), StoreError> {
    let mut writer = store.writer();
    let settled = writer.settle();
    match writer.lost.take() {
        Some(lost) => Err(StoreError::Postgres(lost)),
        None => settled,
    }
}
