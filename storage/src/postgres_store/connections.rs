//! The store's PostgreSQL connections: one writer, a small pool of readers, and reconnecting.
//!
//! `postgres::Client` is blocking (it drives its own small runtime), which suits the blocking
//! `DocStore` trait called from `spawn_blocking` and the server's writer thread. Writes go
//! through one connection because group commit means one open transaction that many appends
//! join; a second writer connection would only contend for the same row locks. Reads get a
//! pool, bounded so a burst of loads cannot exhaust the server's `max_connections` (each node
//! holds at most `1 + MAX_READERS`), and lazily filled so an idle store holds one connection.
//!
//! A connection is never repaired: one that reports itself closed, or whose statement failed
//! with the connection gone, is dropped and the next operation opens a fresh one. That is the
//! whole reconnect story: while PostgreSQL is down operations fail with
//! `StoreError::Postgres`, and once it is back they succeed, on the same store.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::{PostgresStore, postgres_error};
use crate::error::StoreError;

/// Read connections a store opens at most; more concurrent reads wait for one.
const MAX_READERS: usize = 8;

/// Silence on a connection after which TCP keepalives start, and their spacing: a peer that
/// vanished is noticed in about a minute.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// How long opening a connection may take when the URL does not say: a database that is down
/// should fail an operation promptly rather than hang the caller.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to open a connection, parsed once from the URL.
pub(super) struct Connector {
    config: Config,
}

impl Connector {
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let mut config = Config::from_str(url).map_err(postgres_error)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        // A node that freezes or is cut off mid-transaction must not hold its rows' locks (and
        // so every other node's writes to them) until TCP gives up, hours later.
        config
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(3);
        if config.get_application_name().is_none() {
            config.application_name("quire");
        }
        Ok(Connector { config })
    }

    pub fn connect(&self) -> Result<Client, StoreError> {
        let mut client = self.config.connect(NoTls).map_err(postgres_error)?;
        // `flush` promises durability: never let a database default of `off` weaken COMMIT.
        // A transaction left idle (its node frozen between append and flush) is ended by the
        // server, and a lock wait past `lock_timeout` fails that batch (its clients resync)
        // rather than stalling the writer for as long as another node holds the row.
        client
            .batch_execute(
                "SET synchronous_commit = on; \
                 SET idle_in_transaction_session_timeout = '30s'; \
                 SET lock_timeout = '15s'",
            )
            .map_err(postgres_error)?;
        Ok(client)
    }
}

/// The writer connection and its open transaction, if any.
#[derive(Default)]
pub(super) struct WriterState {
    client: Option<Client>,
    /// Documents with uncommitted appends. Non-empty exactly while a transaction is open on
    /// `client` (it is opened by the first append that lands and ended by commit or failure).
    /// Changed only under the writer's lock, but shared so reads can check it without waiting
    /// for that lock (held throughout a slow statement, a compaction or a wait for a row lock).
    pub pending: Arc<PendingDocuments>,
    /// Why the last transaction's appends were rolled back, for the next `flush` to report.
    pub lost: Option<Arc<postgres::Error>>,
}

impl WriterState {
    /// The writer connection, opened if there is none or the old one broke.
    pub fn client(&mut self, connector: &Connector) -> Result<&mut Client, StoreError> {
        // With a transaction open a closed connection is not replaced here: the next statement
        // fails on it, which is how the transaction's loss is noticed and reported.
        if self.pending.is_empty() && self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        match &mut self.client {
            Some(client) => Ok(client),
            slot @ None => Ok(slot.insert(connector.connect()?)),
        }
    }

    /// Ends a transaction that failed with `error`: its appends are gone. Earlier calls'
    /// appends in it were acknowledged, so the loss is kept for `flush` to report.
    pub fn abandon(&mut self, error: &Arc<postgres::Error>) {
        if !self.pending.is_empty() {
            self.lost = Some(Arc::clone(error));
        }
        self.pending.clear();
        self.roll_back();
    }

    /// Rolls back whatever transaction is open on the connection (a failed statement's, or a
    /// group transaction being discarded), and drops the connection if that fails too: it is
    /// then broken, and the next operation opens a new one.
    pub fn roll_back(&mut self) {
        if let Some(client) = &mut self.client
            && (client.is_closed() || client.batch_execute("ROLLBACK").is_err())
        {
            self.client = None;
        }
    }

    /// Ends the open group transaction, if any: commits it, unless appends of this flush
    /// period were already lost, in which case it is rolled back too, so that the failed
    /// flush that reports the loss means "nothing since the last flush is stored", exactly.
    pub fn settle(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.lost.is_some() {
            self.pending.clear();
            self.roll_back();
            return Ok(());
        }
        let committed = match &mut self.client {
            Some(client) => client.batch_execute("COMMIT"),
            None => unreachable_pending(),
        };
        self.pending.clear();
        committed.map_err(|error| {
            // Whether a COMMIT that failed with the connection took effect is unknowable;
            // it is reported as failed, and clients resync to whatever was stored.
            self.roll_back();
            StoreError::Postgres(Arc::new(error))
        })
    }
}

/// The documents with appends in the writer's open transaction.
#[derive(Default)]
pub(super) struct PendingDocuments(Mutex<BTreeSet<String>>);

impl PendingDocuments {
    fn documents(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_empty(&self) -> bool {
        self.documents().is_empty()
    }

    pub fn contains(&self, doc: &str) -> bool {
        self.documents().contains(doc)
    }

    pub fn insert(&self, doc: &str) {
        self.documents().insert(doc.to_owned());
    }

    pub fn clear(&self) {
        self.documents().clear();
    }
}

/// `pending` is only filled after `client` is set, and `client` is only cleared with it.
fn unreachable_pending() -> ! {
    unreachable!("a transaction is pending only on an open writer connection")
}

/// Idle read connections and how many exist, lent out or not.
#[derive(Default)]
pub(super) struct ReadPool {
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Client>,
    open: usize,
}

impl ReadPool {
    fn state(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` on a pooled connection, opening one if none is idle and the pool has room.
    pub(super) fn with_client<T>(
        &self,
        connector: &Connector,
        work: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut lent = Lent {
            pool: self,
            client: None,
        };
        let mut state = self.state();
        loop {
            if let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                drop(state);
                lent.client = Some(client);
                break;
            }
            if state.open < MAX_READERS {
                state.open += 1;
                drop(state);
                // Counted before connecting so concurrent callers cannot overshoot; `lent`
                // uncounts it if connecting fails.
                lent.client = Some(connector.connect()?);
                break;
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match &mut lent.client {
            Some(client) => work(client),
            None => unreachable!("a client was just taken or opened"),
        }
    }
}

/// A pool slot in use: gives its connection back (or its place, if it broke) even on a panic.
struct Lent<'pool> {
    pool: &'pool ReadPool,
    client: Option<Client>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.state();
        match self.client.take() {
            Some(client) if !client.is_closed() && !std::thread::panicking() => {
                state.idle.push(client);
            }
            _ => state.open -= 1,
        }
        self.pool.returned.notify_one();
    }
}

impl PostgresStore {
    /// Runs a read where it sees this store's uncommitted appends: on the writer connection if
    /// `doc` (or, for a listing, any document) has some, else on a pooled connection.
    pub(super) fn read<T>(
        &self,
        doc: Option<&str>,
        work: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // Unlocked check: a document that becomes pending right after it is being appended to
        // concurrently with this read, which may then see the state before or after; one that
        // stops being pending is committed, which the pool sees.
        let on_writer = match doc {
            Some(doc) => self.pending.contains(doc),
            None => !self.pending.is_empty(),
        };
        if !on_writer {
            return self.readers.with_client(&self.connector, work);
        }
        let mut writer = self.writer();
        let client = writer.client(&self.connector)?;
        let result = work(client);
        if let Err(StoreError::Postgres(error)) = &result {
            // A failed statement aborts the group transaction it ran in.
            let error = Arc::clone(error);
            writer.abandon(&error);
        }
        result
    }

    /// Runs a durable write on the writer connection, after committing pending appends (see the
    /// module docs for why not elsewhere). `work` makes its own transaction if it needs one.
    pub(super) fn write<T>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut writer = self.writer();
        if let Err(StoreError::Postgres(error)) = writer.settle() {
            // Those appends were acknowledged but are not stored: the next flush says so.
            writer.lost = Some(error);
        }
        let client = writer.client(&self.connector)?;
        let result = work(client);
        if let Err(StoreError::Postgres(_)) = &result {
            writer.roll_back();
        }
        result
    }
}
