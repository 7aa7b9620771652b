//! What makes sled's writes survive a power cut, not only `kill -9`.
//!
//! sled 0.34 ends a flush with `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` on its log
//! file. That call writes no metadata and does not flush the device's write cache; its manual
//! page warns that unless a program only overwrites blocks already allocated, nothing promises
//! the data survives a crash. sled's log grows with every append, so the file's new size becomes
//! durable only when sled's background thread calls `fsync`, about every 500 ms, and large values
//! sled keeps as separate files under `blobs/` are never synced at all (nor is the directory that
//! names them).
//!
//! So after sled's own flush, [`SledFiles::sync`] calls `fdatasync` on the log file (its data
//! and its size), `fdatasync` on every blob file not synced before, and `fsync` on the
//! directories whose entries changed. Only then does [`crate::DocStore::flush`] return, and only
//! then does the server show anything it covers. One call per group commit covers every room.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// sled's own files inside its directory, kept open for syncing.
pub(crate) struct SledFiles {
    directory: PathBuf,
    log: File,
    /// Blob files already synced (sled writes each once and never changes it).
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl SledFiles {
    /// Opens sled's files in `directory` (sled's own directory, once sled has opened it) and
    /// makes the directory entries that exist now durable.
    pub(crate) fn open(directory: &Path) -> io::Result<Self> {
        let log = File::open(directory.join("db"))?;
        let files = SledFiles {
            directory: directory.to_path_buf(),
            log,
            synced_blobs: Mutex::new(HashSet::new()),
        };
        // sled writes its `conf` (its settings, read back at every open) when it creates the
        // store and never syncs it; one sync at open makes it as durable as the data it describes.
        match File::open(directory.join("conf")) {
            Ok(conf) => conf.sync_all()?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        sync_directory(directory)?;
        if let Some(parent) = directory.parent() {
            sync_directory(parent)?;
        }
        files.sync()?;
        Ok(files)
    }

    /// Makes everything sled has written so far durable: its log's data and size, new blob
    /// files, and the directory entries naming them.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.log.sync_data()?;
        self.sync_new_blobs()?;
        // sled renames its recovery snapshots into place in the background; a renamed entry is
        // durable only once its directory is synced. On an unchanged directory this is cheap.
        sync_directory(&self.directory)
    }

    fn sync_new_blobs(&self) -> io::Result<()> {
        let blobs = self.directory.join("blobs");
        let entries = match std::fs::read_dir(&blobs) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut present = HashSet::new();
        let mut added = false;
        for entry in entries {
            let name = entry?.file_name();
            if !synced.contains(&name) {
                match File::open(blobs.join(&name)) {
                    Ok(blob) => blob.sync_data()?,
                    // sled removed it meanwhile (garbage collection): nothing to keep.
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
                }
                added = true;
            }
            present.insert(name);
        }
        // Names sled removed are forgotten, so the set stays the size of the directory.
        *synced = present;
        if added {
            sync_directory(&blobs)?;
        }
        Ok(())
    }
}

/// `fsync` of a directory: makes the entries it holds (created, renamed, removed) durable.
pub(crate) fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)?.sync_all()
}
