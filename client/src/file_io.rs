//! Reading the mirrored file, and replacing it atomically.
//!
//! An editor watching the file must never see it half-written, and a crash must leave either the
//! old or the new content: the text goes to a temporary file in the same directory (a rename
//! across file systems is not atomic), is flushed to disk, takes over the old file's permissions,
//! and is renamed over it.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::MirrorError;

/// Tells temporary files of one process apart.
static NEXT_TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// The file's text, or `None` if it does not exist.
pub(crate) async fn read_text(path: &Path) -> Result<Option<String>, MirrorError> {
    let path = path.to_path_buf();
    run_blocking(move || match fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| MirrorError::NotText { path }),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MirrorError::Read { path, source }),
    })
    .await
}

/// Replaces the file's content with `text` atomically, keeping its permissions.
pub(crate) async fn write_atomically(path: &Path, text: String) -> Result<(), MirrorError> {
    let path = path.to_path_buf();
    run_blocking(move || write_blocking(&path, text.as_bytes())).await
}

fn write_blocking(path: &Path, bytes: &[u8]) -> Result<(), MirrorError> {
    let temporary = temporary_path(path);
    let written = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        match fs::metadata(path) {
            Ok(existing) => file.set_permissions(existing.permissions())?,
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        file.sync_all()
    })();
    if let Err(source) = written {
        let _ = fs::remove_file(&temporary);
        return Err(MirrorError::Write {
            path: temporary,
            source,
        });
    }
    fs::rename(&temporary, path).map_err(|source| {
        let _ = fs::remove_file(&temporary);
        MirrorError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// `.NAME.quire-PID-N.tmp` beside the file: hidden, unique, on the same file system.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = NEXT_TEMPORARY.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.quire-{}-{unique}.tmp", std::process::id()))
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, MirrorError> + Send + 'static,
) -> Result<T, MirrorError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn replaces_content_keeping_permissions_and_leaves_no_temporary_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("notes.md");
        assert_eq!(read_text(&path).await.unwrap(), None);
        write_atomically(&path, "first".into()).await.unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, "second".into()).await.unwrap();
        assert_eq!(read_text(&path).await.unwrap().as_deref(), Some("second"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<_> = fs::read_dir(directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["notes.md"]);
    }

    #[tokio::test]
    async fn binary_files_are_refused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("image.bin");
        fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_text(&path).await,
            Err(MirrorError::NotText { .. })
        ));
    }
}
