//! What `quire serve` can be told, from flags, `QUIRE_*` environment variables or a TOML file.
//!
//! One struct carries every setting so the server, the tests and `main` agree on names and
//! defaults; each default is chosen for a production server, not a demo.
//!
//! Precedence, highest first: command-line flag, `QUIRE_*` variable, the `--config` file, the
//! built-in default. [`resolve`] applies it: clap parses flags and variables and reports which
//! settings were left at their default; those are taken from the file when it has them, parsed
//! by the same clap value parsers so a file value is checked exactly like a flag.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};

use crate::logging::LogFormat;
use crate::persistence::Durability;

/// Smallest accepted `--max-message-bytes` and `--max-body-bytes`.
const MIN_SIZE_LIMIT: usize = 1024;

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

    /// Largest WebSocket message accepted, in bytes (at least 1024); larger ones close the
    /// connection with 1009.
    #[arg(long, env = "QUIRE_MAX_MESSAGE_BYTES", default_value_t = 32 * 1024 * 1024,
        value_parser = size_limit)]
    pub max_message_bytes: usize,

    /// Largest HTTP request body accepted (updates POSTed to the API), in bytes (at least 1024);
    /// larger ones get 413.
    #[arg(long, env = "QUIRE_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024,
        value_parser = size_limit)]
    pub max_body_bytes: usize,

    /// Largest a document may grow in storage, in bytes; an update past it is refused and its
    /// sender closed with 4413.
    #[arg(long, env = "QUIRE_MAX_DOCUMENT_BYTES", default_value_t = 256 * 1024 * 1024,
        value_parser = size_limit)]
    pub max_document_bytes: usize,

    /// Memory for sled's page cache, in bytes: it speeds up loading documents that are not in
    /// memory. Open rooms hold their documents themselves, outside this budget.
    #[arg(long, env = "QUIRE_CACHE_BYTES", default_value_t = storage::DEFAULT_CACHE_BYTES)]
    pub cache_bytes: u64,

    /// Open WebSocket connections allowed in total; more are refused with 503.
    #[arg(long, env = "QUIRE_MAX_CONNECTIONS", default_value_t = 20_000, value_parser = queue_frames)]
    pub max_connections: usize,

    /// Open WebSocket connections allowed from one IP address; more are refused with 429.
    #[arg(long, env = "QUIRE_MAX_CONNECTIONS_PER_IP", default_value_t = 500, value_parser = queue_frames)]
    pub max_connections_per_ip: usize,

    /// Messages a connection may send per second (bursts of twice that are absorbed); faster
    /// senders are closed with 4429.
    #[arg(long, env = "QUIRE_MAX_MESSAGES_PER_SECOND", default_value_t = 1_000,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_messages_per_second: u32,

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
    #[arg(long, env = "QUIRE_AUTH_SECRET")]
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
            max_document_bytes: 256 * 1024 * 1024,
            cache_bytes: storage::DEFAULT_CACHE_BYTES,
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
            ping_interval_millis: 20_000,
            shutdown_grace_millis: 5_000,
            log_format: LogFormat::Pretty,
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

    /// How long shutdown may take.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_millis)
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

/// Where a setting's effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The `--config` file.
    File(PathBuf),
    /// A `QUIRE_*` environment variable, by name.
    Env(String),
    /// A command-line flag, by name.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// One setting as the server will use it.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The key, as in the config file (`data_dir`).
    pub key: String,
    /// The value as text, `None` when an optional setting is unset.
    pub value: Option<String>,
    /// Where the value came from.
    pub source: Source,
}

/// The effective configuration: the settings, and where each came from.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The settings the server runs with.
    pub config: ServeConfig,
    /// Every setting in declaration order, for `quire config print`.
    pub settings: Vec<Setting>,
}

impl Effective {
    /// The configuration as TOML, every setting followed by a comment naming its source.
    /// Values of keys containing `secret` or `token` are printed as `"***"`.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Effective configuration of `quire serve`; precedence: flag > env > file > default.\n",
        );
        for setting in &self.settings {
            let line = match &setting.value {
                None => format!("# {} is not set", setting.key),
                Some(_) if is_secret(&setting.key) => format!("{} = \"***\"", setting.key),
                Some(value) => format!("{} = {}", setting.key, toml_literal(value)),
            };
            out.push_str(&format!("{line} # {}\n", setting.source));
        }
        out
    }
}

/// Whether `key` names a secret, whose value is never printed.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("secret") || key.contains("token")
}

/// `value` as a TOML literal: numbers and booleans bare, anything else a quoted string.
fn toml_literal(value: &str) -> String {
    if value.parse::<i64>().is_ok() || value == "true" || value == "false" {
        value.to_owned()
    } else {
        toml::Value::String(value.to_owned()).to_string()
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {} is not valid TOML: {message}", file.display())]
    Syntax { file: PathBuf, message: String },
    /// The file names a setting that does not exist.
    #[error("unknown setting `{key}` in config file {}", file.display())]
    UnknownKey { file: PathBuf, key: String },
    /// The file sets one setting twice (`data_dir` and `data-dir`).
    #[error("setting `{key}` is given twice in config file {}", file.display())]
    DuplicateKey { file: PathBuf, key: String },
    /// The file's value has the wrong type or is out of range.
    #[error("invalid value for setting `{key}` in config file {}: {message}", file.display())]
    InvalidValue {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// The combined settings were refused (should not happen: each was checked alone).
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The effective configuration for `matches` of a [`ServeArgs`]: flags and variables as clap
/// parsed them, the rest from the `--config` file if one is given, the rest default.
pub fn resolve(matches: &ArgMatches) -> Result<Effective, ConfigError> {
    let file = match matches.get_one::<PathBuf>("config") {
        Some(path) => Some((path.clone(), read_file(path)?)),
        None => None,
    };
    // The settings alone, without their variables: what is given below is all there is.
    let with_env = ServeConfig::augment_args(clap::Command::new("quire-config"));
    let command = with_env
        .clone()
        .no_binary_name(true)
        .mut_args(|arg| arg.env(None::<&'static str>));

    let mut file_values = Vec::new();
    if let Some((path, table)) = &file {
        for (key, value) in table {
            let id = key.replace('-', "_");
            let Some(arg) = command
                .get_arguments()
                .find(|arg| arg.get_id() == id.as_str())
            else {
                return Err(ConfigError::UnknownKey {
                    file: path.clone(),
                    key: key.clone(),
                });
            };
            if file_values.iter().any(|(other, _)| *other == id) {
                return Err(ConfigError::DuplicateKey {
                    file: path.clone(),
                    key: id,
                });
            }
            let invalid = |message: String| ConfigError::InvalidValue {
                file: path.clone(),
                key: id.clone(),
                message,
            };
            let text = match value {
                toml::Value::String(text) => text.clone(),
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Float(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                other => {
                    return Err(invalid(format!(
                        "expected a string, number or boolean, found {}",
                        other.type_str()
                    )));
                }
            };
            let long = format!("--{}", arg.get_long().unwrap_or(id.as_str()));
            command
                .clone()
                .try_get_matches_from([long.as_str(), text.as_str()])
                .map_err(|error| invalid(clap_message(&error)))?;
            file_values.push((id.clone(), text));
        }
    }

    let mut argv: Vec<OsString> = Vec::new();
    let mut sources = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        let flag = format!("--{long}");
        let source = match matches.value_source(id) {
            Some(ValueSource::DefaultValue) | None => {
                match file_values.iter().find(|(key, _)| key == id) {
                    Some((_, text)) => {
                        argv.push(flag.into());
                        argv.push(text.into());
                        Source::File(
                            file.as_ref()
                                .map(|(path, _)| path.clone())
                                .unwrap_or_default(),
                        )
                    }
                    None => Source::Default,
                }
            }
            Some(ValueSource::EnvVariable) => {
                push_raw(&mut argv, &flag, matches, id);
                Source::Env(
                    with_env
                        .get_arguments()
                        .find(|other| other.get_id() == id)
                        .and_then(|other| other.get_env())
                        .map(|name| name.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            }
            Some(_) => {
                push_raw(&mut argv, &flag, matches, id);
                Source::Flag(flag)
            }
        };
        sources.push((id.to_owned(), source));
    }

    let effective = command
        .try_get_matches_from(argv)
        .map_err(|error| ConfigError::Invalid(clap_message(&error)))?;
    let config = ServeConfig::from_arg_matches(&effective)
        .map_err(|error| ConfigError::Invalid(clap_message(&error)))?;
    let settings = sources
        .into_iter()
        .map(|(key, source)| Setting {
            value: effective
                .get_raw(&key)
                .and_then(|mut values| values.next())
                .map(|value| value.to_string_lossy().into_owned()),
            key,
            source,
        })
        .collect();
    Ok(Effective { config, settings })
}

/// Appends `flag` and each raw value clap saw for `id`.
fn push_raw(argv: &mut Vec<OsString>, flag: &str, matches: &ArgMatches, id: &str) {
    for value in matches.get_raw(id).into_iter().flatten() {
        argv.push(flag.into());
        argv.push(value.to_owned());
    }
}

/// Reads and parses the config file.
fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_owned(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|error| ConfigError::Syntax {
            file: path.to_owned(),
            message: error.to_string().trim_end().to_owned(),
        })
}

/// A clap error on one line, without the `error:` prefix and the `--help` hint.
fn clap_message(error: &clap::Error) -> String {
    error
        .render()
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
        .map(|line| line.strip_prefix("error: ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let effective = Effective {
            config: ServeConfig::new("127.0.0.1:0".parse().unwrap(), PathBuf::from("data")),
            settings: vec![
                Setting {
                    key: "auth_secret".to_owned(),
                    value: Some("hunter2".to_owned()),
                    source: Source::Env("QUIRE_AUTH_SECRET".to_owned()),
                },
                Setting {
                    key: "api_token".to_owned(),
                    value: Some("hunter3".to_owned()),
                    source: Source::Default,
                },
                Setting {
                    key: "addr".to_owned(),
                    value: Some("127.0.0.1:0".to_owned()),
                    source: Source::Flag("--addr".to_owned()),
                },
            ],
        };
        let printed = effective.to_toml();
        assert!(!printed.contains("hunter"), "{printed}");
        assert!(printed.contains("auth_secret = \"***\" # env QUIRE_AUTH_SECRET\n"));
        assert!(printed.contains("api_token = \"***\" # default\n"));
        assert!(printed.contains("addr = \"127.0.0.1:0\" # flag --addr\n"));
    }
}
