//! A sled store on a real filesystem that fills up: after its first failed write it refuses
//! writes and flushes at once (sled's own flush would never return), serves reads once there is
//! space, and can be dropped. Needs root to mount a tmpfs; elsewhere the test says so and passes.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use storage::{DocStore, SledStore, StoreError};

/// A 16 MiB tmpfs, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let directory = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(directory.path())
            .output()
            .ok()?;
        if !mounted.status.success() {
            eprintln!(
                "skipped: cannot mount a tmpfs here ({})",
                String::from_utf8_lossy(&mounted.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(directory))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[test]
fn after_a_write_fails_for_space_writes_are_refused_at_once_and_reads_go_on() {
    let Some(filesystem) = Tmpfs::mount() else {
        return;
    };
    let store = SledStore::open(&filesystem.0.path().join("data")).unwrap();
    let update = vec![7u8; 100_000];
    // The disk fills under an append or under the flush after it, whichever of sled's writes
    // meets it first: both count. An append taken before a failed flush still reads back.
    let mut appended = 0;
    let failure = loop {
        assert!(appended < 1000, "the filesystem never filled");
        match store.append("doc", &update) {
            Ok(_) => {
                appended += 1;
                if let Err(error) = store.flush() {
                    break error;
                }
            }
            Err(error) => break error,
        }
    };
    assert!(failure.to_string().contains("No space left"), "{failure}");

    // sled's flush would now never return; the store answers at once, naming the first failure.
    let (answer, answered) = mpsc::channel();
    let store = std::sync::Arc::new(store);
    let flushing = store.clone();
    std::thread::spawn(move || answer.send(flushing.flush()).unwrap());
    let flushed = answered
        .recv_timeout(Duration::from_secs(10))
        .expect("the flush returned");
    assert!(
        matches!(&flushed, Err(StoreError::Unwritable { first_error }) if first_error.contains("No space left")),
        "{flushed:?}"
    );
    let more = store.append("doc", b"more");
    assert!(
        matches!(more, Err(StoreError::Unwritable { .. })),
        "{more:?}"
    );
    assert!(matches!(
        store.append_many(&[("doc", b"more"), ("other", b"more")])[..],
        [
            Err(StoreError::Unwritable { .. }),
            Err(StoreError::Unwritable { .. })
        ]
    ));

    // sled writes as it reads (it consolidates pages), so on the full disk reads may fail too:
    // the server's reserve keeps it from getting here. Once there is space, reads work again,
    // everything appended before the failure loads, and writes are still refused.
    let grown = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(filesystem.0.path())
        .status()
        .unwrap();
    assert!(grown.success());
    let loaded = store.load("doc").unwrap();
    assert_eq!(loaded.updates.len(), appended);
    assert!(matches!(
        store.append("doc", b"more"),
        Err(StoreError::Unwritable { .. })
    ));

    // Dropping it returns (sled's close would flush, and hang, too).
    let (dropped, done) = mpsc::channel();
    std::thread::spawn(move || {
        drop(store);
        dropped.send(()).unwrap();
    });
    done.recv_timeout(Duration::from_secs(10))
        .expect("the failed store was dropped");
}
