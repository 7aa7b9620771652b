//! Opening a data directory: its lock, sled's database and the layout check.
//!
//! Kept apart from the store's operations because it is all about the
//! environment rather than documents: who else might hold the directory, what
//! sled does when they do, and whether the data on disk is a layout this
//! build understands. A failed open never modifies existing data: the only
//! write, the layout marker, happens on a store that holds no documents.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::StoreError;
use crate::sled_keys::{DOCUMENTS_TREE, FORMAT_KEY, LAYOUT_VERSION};

const LOCK_FILE_NAME: &str = "quire.lock";
const SLED_DIRECTORY_NAME: &str = "sled";

/// How long `open` keeps retrying a held lock before reporting `Locked`.
/// Locks can be held for a moment by things that are already going away: a
/// child process between `fork` and `exec` shares every open file
/// description (ours included), and a just-dropped sled instance's background
/// tasks still hold its file. A live owner holds the lock for far longer,
/// so a short bounded wait separates the two without ever hanging.
const LOCK_GRACE: Duration = Duration::from_secs(2);
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(10);

/// What a successful open hands to the store.
pub(crate) struct OpenedDirectory {
    /// Locked for as long as the store lives.
    pub lock_file: File,
    pub database: sled::Db,
    pub documents: sled::Tree,
}

/// Creates `directory` if needed, locks it, opens sled inside it and checks
/// (or, when new, writes) the layout version marker.
pub(crate) fn open_data_directory(
    directory: &Path,
    cache_bytes: u64,
) -> Result<OpenedDirectory, StoreError> {
    std::fs::create_dir_all(directory).map_err(|source| StoreError::Io {
        path: directory.to_path_buf(),
        source,
    })?;
    let deadline = Instant::now() + LOCK_GRACE;
    let lock_file = lock_directory(directory, deadline)?;
    let database = open_sled(directory, cache_bytes, deadline)?;
    let documents = database.open_tree(DOCUMENTS_TREE)?;
    check_format(&database, &documents)?;
    Ok(OpenedDirectory {
        lock_file,
        database,
        documents,
    })
}

/// Takes the exclusive lock on the directory's lock file, retrying a held
/// lock until `deadline` (see [`LOCK_GRACE`]).
fn lock_directory(directory: &Path, deadline: Instant) -> Result<File, StoreError> {
    let lock_path = directory.join(LOCK_FILE_NAME);
    let io_error = |source| StoreError::Io {
        path: lock_path.clone(),
        source,
    };
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error)?;
    loop {
        match lock_file.try_lock() {
            Ok(()) => return Ok(lock_file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY_INTERVAL);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: directory.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!("{} is locked", lock_path.display()),
                    ),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
    }
}

/// Where sled keeps its own files inside the data directory.
pub(crate) fn sled_directory(directory: &Path) -> std::path::PathBuf {
    directory.join(SLED_DIRECTORY_NAME)
}

/// Opens sled's database, once our own directory lock is held.
///
/// Holding our lock proves no live store owns the directory, so a sled lock
/// conflict now is either a lingering handle (see [`LOCK_GRACE`]) or
/// something opening `sled/` behind our back; retrying until `deadline`
/// absorbs the first and still reports the second as `Locked`.
fn open_sled(
    directory: &Path,
    cache_bytes: u64,
    deadline: Instant,
) -> Result<sled::Db, StoreError> {
    loop {
        let error = match sled::Config::new()
            .path(sled_directory(directory))
            .cache_capacity(cache_bytes)
            .open()
        {
            Ok(database) => return Ok(database),
            Err(error) => error,
        };
        match error {
            sled::Error::Io(source) if is_sled_lock_conflict(&source) => {
                if Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        path: directory.to_path_buf(),
                        source,
                    });
                }
                std::thread::sleep(LOCK_RETRY_INTERVAL);
            }
            other => return Err(StoreError::Database(other)),
        }
    }
}

/// sled reports a held lock only as an `Other` I/O error with this message.
fn is_sled_lock_conflict(error: &io::Error) -> bool {
    error.to_string().contains("could not acquire lock")
}

/// Verifies (or, on a brand-new store, writes) the layout version marker.
/// A store with documents but no marker is refused rather than guessed at.
fn check_format(database: &sled::Db, documents: &sled::Tree) -> Result<(), StoreError> {
    match database.get(FORMAT_KEY)? {
        Some(marker) => {
            let version: [u8; 4] =
                marker
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::UnreadableFormat {
                        length: marker.len(),
                    })?;
            let found = u32::from_be_bytes(version);
            if found != LAYOUT_VERSION {
                return Err(StoreError::UnsupportedFormat {
                    found,
                    supported: LAYOUT_VERSION,
                });
            }
            Ok(())
        }
        None if documents.is_empty() => {
            database.insert(FORMAT_KEY, &LAYOUT_VERSION.to_be_bytes())?;
            let _flushing = crate::sled_gate::enter_flush();
            database.flush()?;
            Ok(())
        }
        None => Err(StoreError::UnreadableFormat { length: 0 }),
    }
}
