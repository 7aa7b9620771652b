//! Everything an offline command can fail with.
//!
//! Each message is written for the operator at the terminal: it names the directory, document
//! or file involved and, where there is one, the way out (stop the server, pass `--output`).
//! The store's own error stays attached as the source, so `quire` prints the whole chain.

use std::io;
use std::path::PathBuf;

use crdt_core::export::ExportFormat;
use storage::StoreError;

/// Why an offline command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The data directory does not exist. Nothing was created: a typo in `--data-dir` must not
    /// leave an empty store behind.
    #[error("data directory {} does not exist", .path.display())]
    DataDirectoryMissing {
        /// The directory that was asked for.
        path: PathBuf,
    },

    /// Another process, normally a running `quire serve`, holds the data directory.
    #[error(
        "data directory {} is in use by another process (is a Quire server running on it?): stop it and try again",
        .path.display()
    )]
    DataDirectoryInUse {
        /// The directory that is held.
        path: PathBuf,
        /// The store's report of the held lock.
        #[source]
        source: StoreError,
    },

    /// The data directory could not be opened for another reason (unsupported layout, I/O).
    #[error("cannot open data directory {}", .path.display())]
    Open {
        /// The directory being opened.
        path: PathBuf,
        /// What the store reported.
        #[source]
        source: StoreError,
    },

    /// The documents could not be listed.
    #[error("cannot list the documents")]
    List(#[source] StoreError),

    /// No document has that id.
    #[error("no document {id:?} in {}", .path.display())]
    UnknownDocument {
        /// The id that was asked for.
        id: String,
        /// The data directory searched.
        path: PathBuf,
    },

    /// A document's metadata or records could not be read.
    #[error("cannot read document {id:?}")]
    Read {
        /// The document being read.
        id: String,
        /// What the store reported.
        #[source]
        source: StoreError,
    },

    /// The store refused to swap in a document's new snapshot; its old snapshot and log remain.
    #[error("cannot compact document {id:?}")]
    Compact {
        /// The document being compacted.
        id: String,
        /// What the store reported.
        #[source]
        source: StoreError,
    },

    /// The document cannot be exported as asked: a format its kind lacks, no such root, no
    /// single root text, no rich text where its kind promised one.
    #[error("cannot export document {id:?}")]
    Export {
        /// The document being exported.
        id: String,
        /// Why not.
        #[source]
        source: server::room::ExportError,
    },

    /// `--name` was given with a format that always holds the whole document.
    #[error(
        "--name applies to the text, json, html, markdown and prosemirror-json formats; {format} \
         holds the whole document"
    )]
    NameWithWholeDocumentFormat {
        /// The format asked for.
        format: ExportFormat,
    },

    /// A binary format was about to be written to a terminal.
    #[error(
        "refusing to write the binary {format} format to a terminal: pass --output FILE or redirect stdout"
    )]
    BinaryToTerminal {
        /// The format asked for.
        format: ExportFormat,
    },

    /// Output could not be written.
    #[error("cannot write to {target}")]
    Write {
        /// The file written to, or `stdout`.
        target: String,
        /// The failed write.
        #[source]
        source: io::Error,
    },
}
