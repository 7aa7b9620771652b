//! What `quire serve` can be told, from flags or `QUIRE_*` environment variables.
//!
//! One struct carries every setting so the server, the tests and `main` agree on names and
//! defaults; each default is chosen for a production server, not a demo.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::persistence::Durability;

/// Settings of a running server.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "QUIRE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Directory holding the documents.
    #[arg(long, env = "QUIRE_DATA_DIR", default_value = "./quire-data")]
    pub data_dir: PathBuf,

    /// `strict`: every update is on disk before anyone else sees it. `relaxed`: shown at once,
    /// flushed within half a second; a crash can lose what clients already saw.
    #[arg(long, env = "QUIRE_DURABILITY", value_enum, default_value_t = Durability::Strict)]
    pub durability: Durability,

    /// Largest WebSocket message accepted, in bytes; larger ones close the connection with 1009.
    #[arg(long, env = "QUIRE_MAX_MESSAGE_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Largest HTTP request body accepted (updates POSTed to the API), in bytes; larger ones get 413.
    #[arg(long, env = "QUIRE_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Frames a client may fall behind by before it is disconnected (close 4000) to resync.
    #[arg(long, env = "QUIRE_CLIENT_QUEUE_FRAMES", default_value_t = 1024)]
    pub client_queue_frames: usize,

    /// How often idle connections are pinged, in milliseconds; a connection silent for twice
    /// this long is closed.
    #[arg(long, env = "QUIRE_PING_INTERVAL_MILLIS", default_value_t = 20_000)]
    pub ping_interval_millis: u64,

    /// How long shutdown waits for connections and rooms to finish, in milliseconds.
    #[arg(long, env = "QUIRE_SHUTDOWN_GRACE_MILLIS", default_value_t = 5_000)]
    pub shutdown_grace_millis: u64,
}

impl ServeConfig {
    /// The defaults, listening on `addr` and storing in `data_dir`.
    pub fn new(addr: SocketAddr, data_dir: PathBuf) -> Self {
        ServeConfig {
            addr,
            data_dir,
            durability: Durability::Strict,
            max_message_bytes: 32 * 1024 * 1024,
            max_body_bytes: 64 * 1024 * 1024,
            client_queue_frames: 1024,
            ping_interval_millis: 20_000,
            shutdown_grace_millis: 5_000,
        }
    }

    /// Interval between keepalive pings.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_millis.max(1))
    }

    /// Silence after which a connection is considered dead.
    pub fn idle_timeout(&self) -> Duration {
        self.ping_interval() * 2
    }

    /// How long shutdown may take.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_millis)
    }
}
