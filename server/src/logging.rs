//! Where and how the `quire` binary logs: to stderr, filtered by `RUST_LOG` (default `info`),
//! either human-readable ([`LogFormat::Pretty`]) or one JSON object per line
//! ([`LogFormat::Json`]) for log collectors.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Pretty,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields.message`, and the
    /// fields of the enclosing spans (`span`, `spans`), e.g. a connection's `room` and `peer`.
    Json,
}

/// Installs the global subscriber, writing to stderr in `format`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}
