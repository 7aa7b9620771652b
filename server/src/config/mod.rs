//! What `quire serve` can be told, from flags, `QUIRE_*` environment variables or a TOML file.
//!
//! One struct carries every setting so the server, the tests and `main` agree on names and
//! defaults; each default is chosen for a production server, not a demo.
//!
//! Precedence, highest first: command-line flag, `QUIRE_*` variable, the `--config` file, the
//! built-in default. [`resolve`] applies it: clap parses flags and variables and reports which
//! settings were left at their default; those are taken from the file when it has them, parsed
//! by the same clap value parsers so a file value is checked exactly like a flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::logging::LogFormat;
use crate::room::Durability;

mod resolve;
mod store_location;
pub(crate) use resolve::mask_url_credentials;
pub use resolve::{ConfigError, Effective, Setting, Source, resolve};
pub use store_location::StoreLocation;
use store_location::store_location;

/// Smallest accepted `--max-message-bytes` and `--max-body-bytes`.
const MIN_SIZE_LIMIT: usize = 1024;

/// Settings of a running server.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "QUIRE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Directory holding the documents (with `--store sled`).
    #[arg(long, env = "QUIRE_DATA_DIR", default_value = "./quire-data")]
    pub data_dir: PathBuf,

    /// Where documents are stored: `sled`, embedded in `--data-dir` (the default, for one node),
    /// or a PostgreSQL URL, `postgres://user:password@host:port/database`.
    #[arg(long, env = "QUIRE_STORE", default_value = "sled", value_parser = store_location,
        hide_env_values = true)]
    pub store: StoreLocation,

    /// Redis URL (`redis://host:port`) linking this node to the others that share `--store`:
    /// edits and presence reach every node's clients. Needs a shared store (PostgreSQL).
    #[arg(long, env = "QUIRE_CLUSTER", value_parser = cluster_url, hide_env_values = true)]
    pub cluster: Option<String>,

    /// `strict`: every update is on disk before anyone else sees it. `relaxed`: shown at once,
    /// flushed within half a second; a crash can lose what clients already saw.
    #[arg(long, env = "QUIRE_DURABILITY", value_enum, default_value_t = Durability::Strict)]
    pub durability: Durability,

    /// Largest WebSocket message accepted, in bytes (at least 1024); larger ones close the
    /// connection with 1009.
    #[arg(long, env = "QUIRE_MAX_MESSAGE_BYTES", default_value_t = 32 * 1024 * 1024,
        value_parser = size_limit)]
    pub max_message_bytes: usize,

    /// WebSocket compression (permessage-deflate, RFC 7692), used with clients that offer it
    /// (browsers and Node's `ws` do): `on` or `off`. Messages under 1 KiB are always sent as
    /// they are; a larger one is compressed once, however many clients receive it.
    #[arg(long, env = "QUIRE_COMPRESSION", default_value = "on", value_parser = ["on", "off"])]
    pub compression: String,

    /// Largest HTTP request body accepted (updates POSTed to the API), in bytes (at least 1024);
    /// larger ones get 413.
    #[arg(long, env = "QUIRE_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024,
        value_parser = size_limit)]
    pub max_body_bytes: usize,

    /// Largest awareness state (a user's presence: name, colour, cursor) one client may announce,
    /// in bytes of JSON (at least 1024); a larger one closes its sender with 1009 and is neither
    /// stored nor relayed.
    #[arg(long, env = "QUIRE_MAX_AWARENESS_BYTES", default_value_t = crdt_core::wire::DEFAULT_MAX_AWARENESS_STATE_BYTES,
        value_parser = size_limit)]
    pub max_awareness_bytes: usize,

    /// Largest a document may grow in storage, in bytes; an update past it is refused and its
    /// sender closed with 4413.
    #[arg(long, env = "QUIRE_MAX_DOCUMENT_BYTES", default_value_t = 256 * 1024 * 1024,
        value_parser = size_limit)]
    pub max_document_bytes: usize,

    /// Bytes kept free on the data directory's filesystem: below that, edits are refused (closed
    /// with 4503, POSTs answered 503) and reads go on, until space is freed. It keeps the store
    /// from ever meeting a full disk, which sled does not recover from without a restart.
    #[arg(long, env = "QUIRE_STORAGE_RESERVE_BYTES",
        default_value_t = crate::room::storage::DEFAULT_RESERVE_BYTES)]
    pub storage_reserve_bytes: u64,

    /// Longest a flush to disk may take, in milliseconds, before storage counts as failed (edits
    /// are then refused until a restart) instead of holding every room's edits for as long as
    /// the device does not answer.
    #[arg(long, env = "QUIRE_STORAGE_FLUSH_TIMEOUT_MILLIS", default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub storage_flush_timeout_millis: u64,

    /// Memory for sled's page cache, in bytes: it speeds up loading documents that are not in
    /// memory. Open rooms hold their documents themselves, outside this budget.
    #[arg(long, env = "QUIRE_CACHE_BYTES", default_value_t = storage::DEFAULT_CACHE_BYTES)]
    pub cache_bytes: u64,

    /// Open connections allowed in total, counted from accept (HTTP, WebSockets and connections
    /// still sending their request alike); more are refused at once with 503.
    #[arg(long, env = "QUIRE_MAX_CONNECTIONS", default_value_t = 20_000, value_parser = queue_frames)]
    pub max_connections: usize,

    /// Open connections allowed from one IP address, counted from accept; more are refused at
    /// once with 429.
    #[arg(long, env = "QUIRE_MAX_CONNECTIONS_PER_IP", default_value_t = 500, value_parser = queue_frames)]
    pub max_connections_per_ip: usize,

    /// Messages a connection may send per second (bursts of twice that are absorbed); faster
    /// senders are closed with 4429.
    #[arg(long, env = "QUIRE_MAX_MESSAGES_PER_SECOND", default_value_t = 1_000,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_messages_per_second: u32,

    /// Bytes a connection may send per second, in bursts of twice that; one message larger than
    /// the burst passes when the connection has been quiet, and holds back what follows. Faster
    /// senders are closed with 4429.
    #[arg(long, env = "QUIRE_MAX_BYTES_PER_SECOND", default_value_t = 8 * 1024 * 1024,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub max_bytes_per_second: u64,

    /// Documents held in memory at once; joins past it are closed with 1013 (try again later).
    #[arg(long, env = "QUIRE_MAX_ROOMS", default_value_t = 100_000, value_parser = queue_frames)]
    pub max_rooms: usize,

    /// Seconds a document with connected clients stays in memory without a message before it is
    /// let go of (its clients stay connected; it is reloaded when one of them speaks, and is not
    /// let go of while anyone shows presence); documents under 64 KiB, which reload in well under
    /// a millisecond, after a tenth of it. 0 keeps documents in memory while anyone is connected.
    #[arg(long, env = "QUIRE_DOCUMENT_IDLE_SECONDS", default_value_t = 10)]
    pub document_idle_seconds: u64,

    /// PEM certificate chain: serve https/wss directly (with --tls-key).
    #[arg(long, env = "QUIRE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "QUIRE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Secret that signs access tokens. When set, every WebSocket and `/api` request needs a
    /// token (`quire token` makes one); when unset, Quire runs open and says so at start.
    #[arg(long, env = "QUIRE_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<String>,

    /// Origins allowed to open WebSockets, comma-separated (e.g. `https://docs.example.com`);
    /// an upgrade with another `Origin` header gets 403. Unset: any origin.
    #[arg(long, env = "QUIRE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Frames a client may fall behind by before it is disconnected (close 4000) to resync
    /// (at least 1).
    #[arg(long, env = "QUIRE_CLIENT_QUEUE_FRAMES", default_value_t = 1024,
        value_parser = queue_frames)]
    pub client_queue_frames: usize,

    /// Bytes a client may have waiting to be sent to it before it is disconnected (close 4000)
    /// to resync; one frame larger than this (a whole document over it) may wait beside them, uncounted.
    #[arg(long, env = "QUIRE_CLIENT_QUEUE_BYTES", default_value_t = 16 * 1024 * 1024,
        value_parser = size_limit)]
    pub client_queue_bytes: usize,

    /// Seconds a client may take no bytes of what is sent to it (its socket full, it stopped
    /// reading) before it is closed with 4000, or dropped if even the close frame cannot get
    /// through within a second. Independent of keepalive.
    #[arg(long, env = "QUIRE_SEND_TIMEOUT_SECONDS", default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub send_timeout_seconds: u64,

    /// Seconds a connection may take to send its first request's headers (a WebSocket upgrade
    /// is one; over TLS, the TLS handshake gets as long again) before it is closed.
    #[arg(long, env = "QUIRE_HANDSHAKE_TIMEOUT_SECONDS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout_seconds: u64,

    /// How often idle connections are pinged, in milliseconds; a connection silent for twice
    /// this long is closed.
    #[arg(long, env = "QUIRE_PING_INTERVAL_MILLIS", default_value_t = 20_000)]
    pub ping_interval_millis: u64,

    /// How long shutdown waits for connections and rooms to finish, in milliseconds.
    #[arg(long, env = "QUIRE_SHUTDOWN_GRACE_MILLIS", default_value_t = 5_000)]
    pub shutdown_grace_millis: u64,

    /// Log lines on stderr: `pretty` for people, `json` for one JSON object per line.
    #[arg(long, env = "QUIRE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// URL (http or https) that every change event is POSTed to, signed with --webhook-secret;
    /// repeat the flag (or separate with commas, or give a list in the file) for several.
    #[arg(long, env = "QUIRE_WEBHOOK_URL", value_delimiter = ',', value_parser = webhook_url)]
    pub webhook_url: Vec<String>,

    /// Secret that signs webhook bodies (header `Quire-Signature: sha256=<HMAC-SHA256>`);
    /// required with --webhook-url.
    #[arg(long, env = "QUIRE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Debounce window of `document.updated`, in milliseconds: at most one event per document
    /// per window, sent when the window ends.
    #[arg(long, env = "QUIRE_WEBHOOK_DEBOUNCE_MILLIS", default_value_t = 2_000)]
    pub webhook_debounce_millis: u64,

    /// Longest one webhook request may take, in milliseconds, before it counts as failed and is
    /// retried.
    #[arg(long, env = "QUIRE_WEBHOOK_TIMEOUT_MILLIS", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_timeout_millis: u64,

    /// Longest wait between retries of a failing webhook, in milliseconds (waits double from
    /// half a second up to this, with jitter).
    #[arg(long, env = "QUIRE_WEBHOOK_MAX_BACKOFF_MILLIS", default_value_t = 60_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_max_backoff_millis: u64,

    /// Change events kept for `/api/changes` readers (at least 1); older ones are dropped, but
    /// not before every webhook has delivered them, up to --webhook-max-backlog-events.
    #[arg(long, env = "QUIRE_CHANGES_RETENTION_EVENTS", default_value_t = 100_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub changes_retention_events: u64,

    /// The change feed (`GET /api/changes`, and what webhooks send): `auto` runs it when a
    /// --webhook-url is set, `on` always, `off` never. It costs work per active document per
    /// debounce window (docs/benchmarks.md, "The change feed's cost"), so it runs only when
    /// something consumes it.
    #[arg(long, env = "QUIRE_CHANGE_FEED", default_value = "auto",
        value_parser = ["auto", "on", "off"])]
    pub change_feed: String,

    /// Most undelivered events a webhook may hold back from trimming (at least 1). A receiver
    /// down so long that its backlog passes this loses the oldest events (logged and counted in
    /// `quire_webhook_dropped_events_total`) rather than filling the disk, which would stop
    /// editing.
    #[arg(long, env = "QUIRE_WEBHOOK_MAX_BACKLOG_EVENTS", default_value_t = 1_000_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_max_backlog_events: u64,
}

impl ServeConfig {
    /// The defaults, listening on `addr` and storing in `data_dir`.
    pub fn new(addr: SocketAddr, data_dir: PathBuf) -> Self {
        ServeConfig {
            addr,
            data_dir,
            store: StoreLocation::Sled,
            cluster: None,
            durability: Durability::Strict,
            max_message_bytes: 32 * 1024 * 1024,
            compression: "on".to_owned(),
            max_body_bytes: 64 * 1024 * 1024,
            max_awareness_bytes: crdt_core::wire::DEFAULT_MAX_AWARENESS_STATE_BYTES,
            max_document_bytes: 256 * 1024 * 1024,
            cache_bytes: storage::DEFAULT_CACHE_BYTES,
            storage_reserve_bytes: crate::room::storage::DEFAULT_RESERVE_BYTES,
            storage_flush_timeout_millis: 30_000,
            max_connections: 20_000,
            max_connections_per_ip: 500,
            max_messages_per_second: 1_000,
            max_rooms: 100_000,
            document_idle_seconds: 10,
            tls_cert: None,
            tls_key: None,
            auth_secret: None,
            allowed_origins: Vec::new(),
            client_queue_frames: 1024,
            client_queue_bytes: 16 * 1024 * 1024,
            send_timeout_seconds: 15,
            handshake_timeout_seconds: 10,
            max_bytes_per_second: 8 * 1024 * 1024,
            ping_interval_millis: 20_000,
            shutdown_grace_millis: 5_000,
            log_format: LogFormat::Pretty,
            webhook_url: Vec::new(),
            webhook_secret: None,
            webhook_debounce_millis: 2_000,
            webhook_timeout_millis: 10_000,
            webhook_max_backoff_millis: 60_000,
            changes_retention_events: 100_000,
            webhook_max_backlog_events: 1_000_000,
            change_feed: "auto".to_owned(),
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

    /// How long an idle document stays in memory while clients are connected; `None`: forever.
    pub fn document_idle(&self) -> Option<Duration> {
        (self.document_idle_seconds > 0).then(|| Duration::from_secs(self.document_idle_seconds))
    }

    /// How storage is written: durability and the limits that tell a failing store.
    pub fn storage_settings(&self) -> crate::room::storage::StorageSettings {
        crate::room::storage::StorageSettings {
            durability: self.durability,
            flush_timeout: Duration::from_millis(self.storage_flush_timeout_millis),
            reserve_bytes: self.storage_reserve_bytes,
            data_directory: Some(self.data_dir.clone()),
            change_debounce: Duration::from_millis(self.webhook_debounce_millis),
            change_feed: self.runs_change_feed(),
        }
    }

    /// Whether WebSocket connections may agree on permessage-deflate.
    pub fn compresses(&self) -> bool {
        self.compression == "on"
    }

    /// Whether the change feed runs: `on`, or `auto` with a webhook to feed.
    pub fn runs_change_feed(&self) -> bool {
        match self.change_feed.as_str() {
            "on" => true,
            "off" => false,
            _ => !self.webhook_url.is_empty(),
        }
    }

    /// How long a connection may take to send its first request's headers.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_seconds)
    }

    /// How long a client may take no bytes before it is closed.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_seconds)
    }

    /// How long shutdown may take.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_millis)
    }

    /// What one client frame may carry, beyond its size.
    pub fn frame_limits(&self) -> crdt_core::wire::FrameLimits {
        crdt_core::wire::FrameLimits {
            max_awareness_state_bytes: self.max_awareness_bytes,
        }
    }
}

/// A byte limit: a whole number of at least [`MIN_SIZE_LIMIT`].
fn size_limit(text: &str) -> Result<usize, String> {
    let value: usize = text.parse().map_err(|error| format!("{error}"))?;
    if value < MIN_SIZE_LIMIT {
        return Err(format!("must be at least {MIN_SIZE_LIMIT} bytes"));
    }
    Ok(value)
}

/// A Redis URL the Redis client takes: `redis://`, `rediss://` or `redis+unix://`.
fn cluster_url(text: &str) -> Result<String, String> {
    redis::Client::open(text).map_err(|error| format!("not a Redis URL: {error}"))?;
    Ok(text.to_owned())
}

/// A webhook URL: absolute, http or https, with a host.
fn webhook_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|error| format!("not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "webhooks are sent over http or https, not {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL names no host".to_owned());
    }
    Ok(text.to_owned())
}

/// A queue length: a whole number of at least 1.
fn queue_frames(text: &str) -> Result<usize, String> {
    let value: usize = text.parse().map_err(|error| format!("{error}"))?;
    if value == 0 {
        return Err("must be at least 1".to_owned());
    }
    Ok(value)
}

/// The settings of `quire serve` and `quire config print`: [`ServeConfig`] plus the file that
/// may supply them.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML file of settings, keyed by the long flag names (`data_dir` or `data-dir`); flags and
    /// `QUIRE_*` variables override it.
    #[arg(long, env = "QUIRE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub settings: ServeConfig,
}
