//! The append log's files: numbered segments in one directory, each opening with a header.
//!
//! A segment is only ever appended to, by one writer, and is never reopened for appending after
//! a restart: its tail may be torn, and writing after a torn frame would hide what follows it
//! from the next replay. A new segment is durable (its header synced, its name synced in the
//! directory) before any frame is written to it, so a frame made durable by `fdatasync` is
//! always reachable by name after a power cut.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What every segment starts with: a name for the format and its version.
pub(crate) const SEGMENT_HEADER: &[u8; 16] = b"QUIRE APPENDS v1";

/// The file name of segment `number`: fixed width, so names sort in segment order.
pub(crate) fn segment_path(directory: &Path, number: u64) -> PathBuf {
    directory.join(format!("{number:020}.segment"))
}

/// The segment number a file name stands for, if it is one of ours.
fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".segment")?;
    (digits.len() == 20 && digits.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

/// The segments in `directory`, in order.
pub(crate) fn list_segments(directory: &Path) -> io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for item in std::fs::read_dir(directory)? {
        let item = item?;
        if let Some(number) = item.file_name().to_str().and_then(segment_number) {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Creates segment `number` with its header, durably (file and directory entry), for writing.
pub(crate) fn create_segment(directory: &Path, number: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(segment_path(directory, number))?;
    file.write_all_at(SEGMENT_HEADER, 0)?;
    file.sync_all()?;
    sync_directory(directory)?;
    Ok(file)
}

/// Reads a whole segment for replay. A file without our header (one torn at creation, before
/// its header was durable) reads as empty.
pub(crate) fn read_segment(directory: &Path, number: u64) -> io::Result<(File, Vec<u8>)> {
    let path = segment_path(directory, number);
    let file = OpenOptions::new().read(true).open(&path)?;
    let bytes = std::fs::read(&path)?;
    if bytes.starts_with(SEGMENT_HEADER) {
        Ok((file, bytes))
    } else {
        Ok((file, Vec::new()))
    }
}

/// Removes a segment none of whose frames is needed any more. Its removal need not be durable:
/// should it come back after a crash, replay finds every frame in it dead again.
pub(crate) fn remove_segment(directory: &Path, number: u64) -> io::Result<()> {
    match std::fs::remove_file(segment_path(directory, number)) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Makes the names in `directory` durable.
pub(crate) fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_in_order_and_others_are_ignored() {
        let directory = tempfile::tempdir().unwrap();
        for number in [10, 2, 1_000_000_000_001] {
            create_segment(directory.path(), number).unwrap();
        }
        std::fs::write(directory.path().join("notes.txt"), b"x").unwrap();
        std::fs::write(directory.path().join("12.segment"), b"x").unwrap();
        assert_eq!(
            list_segments(directory.path()).unwrap(),
            vec![2, 10, 1_000_000_000_001]
        );
        assert!(
            create_segment(directory.path(), 10).is_err(),
            "never reused"
        );
    }

    #[test]
    fn a_segment_without_its_header_reads_as_empty() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(segment_path(directory.path(), 3), b"QUIRE APP").unwrap();
        assert!(read_segment(directory.path(), 3).unwrap().1.is_empty());
        create_segment(directory.path(), 4).unwrap();
        assert_eq!(read_segment(directory.path(), 4).unwrap().1, SEGMENT_HEADER);
        remove_segment(directory.path(), 4).unwrap();
        remove_segment(directory.path(), 4).unwrap();
        assert_eq!(list_segments(directory.path()).unwrap(), vec![3]);
    }
}
