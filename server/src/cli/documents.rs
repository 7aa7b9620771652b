//! `quire docs`: list, export and compact the documents of a data directory, server stopped.
//!
//! Every subcommand opens the store itself (see [`crate::cli::offline_store`]), so a server
//! holding the directory makes it fail at once with a message saying so. Results go to stdout
//! (a table, JSON, or the exported document); warnings and progress notes go to stderr, so
//! stdout can be piped or redirected cleanly.

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use crdt_core::export::ExportFormat;
use serde_json::{Value, json};
use storage::{DocMeta, DocStore};

use crate::cli::error::CliError;
use crate::cli::offline_store::{load_document, open_store, require_document};
use server::room::{ExportRequest, Exported};

/// `quire docs`: work on stored documents while the server is stopped.
#[derive(Debug, Args)]
pub struct DocsArgs {
    /// Directory holding the documents; no server may be running on it.
    #[arg(
        long,
        env = "QUIRE_DATA_DIR",
        default_value = "./quire-data",
        global = true
    )]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: DocsCommand,
}

/// What to do with the documents.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// List every document: id, stored bytes, log records since the snapshot, last change.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write one document out as a Yjs update, JSON or plain text.
    Export {
        /// The document id.
        id: String,
        /// `update` / `update-v2`: the whole document as one Yjs v1 / v2 update. `json`: every
        /// root type as JSON. `text`: the plain text of one root text.
        #[arg(long, value_parser = format_parser())]
        format: ExportFormat,
        /// The root to export (text and json only); text without it needs exactly one root text.
        #[arg(long)]
        name: Option<String>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Merge each document's snapshot and log into one snapshot (or only document ID's).
    Compact {
        /// Compact only this document.
        id: Option<String>,
    },
}

/// Accepts exactly the format names, and lets `--help` and errors list them.
fn format_parser() -> impl TypedValueParser<Value = ExportFormat> {
    let names = ExportFormat::ALL.map(ExportFormat::name);
    PossibleValuesParser::new(names).try_map(|name| name.parse::<ExportFormat>())
}

/// Runs a `quire docs` subcommand.
pub fn run(args: DocsArgs) -> Result<(), CliError> {
    match args.command {
        DocsCommand::List { json } => list(&args.data_dir, json),
        DocsCommand::Export {
            id,
            format,
            name,
            output,
        } => export_document(&args.data_dir, &id, format, name.as_deref(), output),
        DocsCommand::Compact { id } => compact(&args.data_dir, id.as_deref()),
    }
}

fn list(data_dir: &Path, as_json: bool) -> Result<(), CliError> {
    let store = open_store(data_dir)?;
    let documents = store.list().map_err(CliError::List)?;
    let rendered = if as_json {
        let entries: Value = documents.iter().map(document_json).collect();
        format!("{entries:#}\n")
    } else if documents.is_empty() {
        eprintln!("no documents in {}", data_dir.display());
        String::new()
    } else {
        table(&documents)
    };
    write_stdout(rendered.as_bytes())
}

fn document_json(document: &DocMeta) -> Value {
    json!({
        "id": document.id,
        "bytes": document.bytes,
        "log_bytes": document.log_bytes,
        "log_records": document.log_records,
        "last_seq": document.last_seq.0,
        "updated_at": rfc3339(document.updated_at),
        "updated_at_unix_ms": unix_millis(document.updated_at),
        "damaged": document.damaged,
        "kind": document.kind.as_str(),
    })
}

/// Aligned columns: ids left, numbers right, so sizes compare at a glance.
fn table(documents: &[DocMeta]) -> String {
    let header = ["ID", "KIND", "BYTES", "LOG RECORDS", "UPDATED AT"];
    let rows: Vec<[String; 5]> = documents
        .iter()
        .map(|document| {
            [
                if document.damaged {
                    format!("{} (damaged)", document.id)
                } else {
                    document.id.clone()
                },
                document.kind.to_string(),
                document.bytes.to_string(),
                document.log_records.to_string(),
                rfc3339(document.updated_at),
            ]
        })
        .collect();
    let mut widths = header.map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut push_row = |cells: [&str; 5]| {
        let [id, kind, bytes, records, updated] = cells;
        let line = format!(
            "{id:<id_width$}  {kind:<kind_width$}  {bytes:>bytes_width$}  {records:>records_width$}  \
             {updated}",
            id_width = widths[0],
            kind_width = widths[1],
            bytes_width = widths[2],
            records_width = widths[3],
        );
        text.push_str(line.trim_end());
        text.push('\n');
    };
    push_row(header);
    for row in &rows {
        push_row([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    text
}

fn export_document(
    data_dir: &Path,
    id: &str,
    format: ExportFormat,
    name: Option<&str>,
    output: Option<PathBuf>,
) -> Result<(), CliError> {
    // Checked before opening anything, so a mistyped command fails without touching the store.
    if name.is_some() && format.is_binary() {
        return Err(CliError::NameWithWholeDocumentFormat { format });
    }
    if format.is_binary() && output.is_none() && io::stdout().is_terminal() {
        return Err(CliError::BinaryToTerminal { format });
    }
    let store = open_store(data_dir)?;
    let kind = require_document(&store, id)?.kind;
    let document = load_document(&store, id)?;
    drop(store);
    let request = ExportRequest::Document {
        format,
        kind,
        since: None,
        root_name: name.map(str::to_owned),
    };
    let exported = request
        .render(document.room.doc())
        .map_err(|source| CliError::Export {
            id: id.to_owned(),
            source,
        })?;
    let bytes = match exported {
        Exported::Binary(bytes) => bytes,
        Exported::Json(value) => format!("{value:#}\n").into_bytes(),
        Exported::Text(text) | Exported::Html(text) | Exported::Markdown(text) => text.into_bytes(),
    };
    match output {
        Some(path) => {
            fs::write(&path, &bytes).map_err(|source| CliError::Write {
                target: path.display().to_string(),
                source,
            })?;
            eprintln!(
                "wrote {id:?} as {format} ({} bytes) to {}",
                bytes.len(),
                path.display()
            );
            Ok(())
        }
        None => write_stdout(&bytes),
    }
}

fn compact(data_dir: &Path, only: Option<&str>) -> Result<(), CliError> {
    let store = open_store(data_dir)?;
    let ids: Vec<String> = match only {
        Some(id) => {
            require_document(&store, id)?;
            vec![id.to_owned()]
        }
        None => store
            .list()
            .map_err(CliError::List)?
            .into_iter()
            .map(|document| document.id)
            .collect(),
    };
    let mut compacted = 0;
    for id in &ids {
        let document = load_document(&store, id)?;
        let stored = &document.stored;
        let log_bytes: usize = stored.updates.iter().map(|update| update.bytes.len()).sum();
        if stored.updates.is_empty() && stored.snapshot.is_some() && !document.damaged {
            write_stdout(format!("{id}: already one snapshot, nothing to do\n").as_bytes())?;
            continue;
        }
        let snapshot = document.room.encode_state_as_update();
        // Through the last seq ever appended, not the last one loaded: records past damage
        // cannot be read, and leaving them would hide every later append behind them again.
        store
            .compact(id, &snapshot, stored.last_seq)
            .map_err(|source| CliError::Compact {
                id: id.clone(),
                source,
            })?;
        compacted += 1;
        let updates = match stored.updates.len() {
            1 => format!("1 logged update ({log_bytes} bytes)"),
            count => format!("{count} logged updates ({log_bytes} bytes)"),
        };
        let merged = match &stored.snapshot {
            Some(old) => format!("the {}-byte snapshot and {updates}", old.len()),
            None => updates,
        };
        let dropped = if document.damaged {
            ", dropping the unreadable records"
        } else {
            ""
        };
        let line = format!(
            "{id}: merged {merged} into a {}-byte snapshot{dropped}\n",
            snapshot.len()
        );
        write_stdout(line.as_bytes())?;
    }
    let summary = format!(
        "compacted {compacted} of {} documents in {}\n",
        ids.len(),
        data_dir.display()
    );
    write_stdout(summary.as_bytes())
}

/// RFC 3339 in UTC with milliseconds, the precision the store keeps.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// Milliseconds since the Unix epoch, for scripts that would rather not parse dates.
fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|source| CliError::Write {
            target: "stdout".to_owned(),
            source,
        })
}
