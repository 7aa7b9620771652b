//! Opening a data directory for an offline command, and reading one document back.
//!
//! Opening goes through `SledStore::open`, whose directory lock is the only guard against a
//! running server; it gives up after a short grace period, so a held directory becomes a prompt
//! [`CliError::DataDirectoryInUse`] rather than a hang. Loading replays snapshot then log into a
//! [`Room`], exactly as the server does when a room opens, so what the commands export or
//! compact is what clients would be served. Damage is reported as a warning, as the server logs
//! it, and what could be read is used.

use std::path::Path;

use crdt_core::Room;
use storage::{DocMeta, DocStore, LoadedDoc, SledStore, StoreError};

use crate::cli::error::CliError;

/// Opens the existing data directory `directory`.
pub fn open_store(directory: &Path) -> Result<SledStore, CliError> {
    if !directory.is_dir() {
        return Err(CliError::DataDirectoryMissing {
            path: directory.to_path_buf(),
        });
    }
    SledStore::open(directory).map_err(|source| match source {
        StoreError::Locked { .. } => CliError::DataDirectoryInUse {
            path: directory.to_path_buf(),
            source,
        },
        source => CliError::Open {
            path: directory.to_path_buf(),
            source,
        },
    })
}

/// Fails with [`CliError::UnknownDocument`] unless document `id` exists.
pub fn require_document(store: &SledStore, id: &str) -> Result<DocMeta, CliError> {
    let metadata = store.metadata(id).map_err(|source| CliError::Read {
        id: id.to_owned(),
        source,
    })?;
    match metadata {
        Some(meta) => Ok(meta),
        None => Err(CliError::UnknownDocument {
            id: id.to_owned(),
            path: store.directory().to_path_buf(),
        }),
    }
}

/// A document as stored, and the room rebuilt from it.
pub struct LoadedDocument {
    /// The document, rebuilt from the snapshot and log.
    pub room: Room,
    /// What the store returned.
    pub stored: LoadedDoc,
    /// Whether anything stored was left out: a damaged record, or one that did not apply.
    pub damaged: bool,
}

/// Loads document `id` into a room, warning on stderr about anything that had to be left out.
pub fn load_document(store: &SledStore, id: &str) -> Result<LoadedDocument, CliError> {
    let stored = store.load(id).map_err(|source| CliError::Read {
        id: id.to_owned(),
        source,
    })?;
    let mut damaged = false;
    if let Some(corruption) = &stored.corruption {
        eprintln!(
            "warning: document {id:?} is damaged ({corruption}); using it up to the last good record"
        );
        damaged = true;
    }
    let mut room = Room::new();
    let records = stored
        .snapshot
        .iter()
        .map(|snapshot| ("snapshot".to_owned(), snapshot))
        .chain(
            stored
                .updates
                .iter()
                .map(|update| (format!("update {}", update.seq), &update.bytes)),
        );
    for (record, bytes) in records {
        if let Err(error) = room.handle_stored_update(bytes) {
            // The server stops at the first record that does not apply; so does this, so that
            // an export shows what clients are served.
            eprintln!(
                "warning: document {id:?}: {record} does not apply ({error}); using the records before it"
            );
            damaged = true;
            break;
        }
    }
    Ok(LoadedDocument {
        room,
        stored,
        damaged,
    })
}
