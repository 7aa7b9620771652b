//! Which nodes may use a database: one node alone, or the nodes of one cluster.
//!
//! Two nodes writing one database without a cluster link between them would each compact a
//! document from what its own room holds, and drop from the store the updates the other
//! appended meanwhile. So a node claims the database when it starts, with a session-level
//! advisory lock on a connection of its own that it keeps: exclusive for a node alone, shared
//! for cluster nodes (who see each other's updates, and compact only what they hold). A claim
//! that conflicts is refused, naming why. The lock goes with the connection, so a node that dies
//! frees its claim at once.
//!
//! The claim is checked when a node starts. If PostgreSQL restarts, every claim is released;
//! nodes keep running (they were admitted), and the next node to start is checked against
//! whoever reclaimed by then. That leaves a gap during a database restart, which the operator
//! closes by starting nodes with the same `--cluster` setting.

use postgres::Client;

use super::{PostgresStore, postgres_error};
use crate::error::StoreError;

/// The advisory lock key claims take ("quire" in ASCII, then 1).
const CLAIM_KEY: i64 = 0x7175_6972_6500_0001;

/// How a node uses the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// This node alone (no `--cluster`).
    Alone,
    /// With the other nodes of its cluster.
    Cluster,
}

/// A node's claim on the database, held for as long as this lives.
pub struct DatabaseClaim {
    // Holds the session whose advisory lock is the claim.
    _session: Client,
}

impl std::fmt::Debug for DatabaseClaim {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("DatabaseClaim")
    }
}

impl PostgresStore {
    /// Claims the database for use as `sharing` says, or refuses with
    /// [`StoreError::DatabaseClaimed`] when another node's claim conflicts.
    pub fn claim(&self, sharing: Sharing) -> Result<DatabaseClaim, StoreError> {
        let mut session = self.connector.connect()?;
        let statement = match sharing {
            Sharing::Alone => "SELECT pg_try_advisory_lock($1)",
            Sharing::Cluster => "SELECT pg_try_advisory_lock_shared($1)",
        };
        let claimed: bool = session
            .query_one(statement, &[&CLAIM_KEY])
            .and_then(|row| row.try_get(0))
            .map_err(postgres_error)?;
        if !claimed {
            return Err(StoreError::DatabaseClaimed {
                reason: match sharing {
                    Sharing::Alone => {
                        "another Quire node uses this database; nodes that share one \
                                       need --cluster"
                    }
                    Sharing::Cluster => "a Quire node without --cluster uses this database",
                },
            });
        }
        Ok(DatabaseClaim { _session: session })
    }
}
