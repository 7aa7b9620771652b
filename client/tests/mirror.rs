//! FileMirror against a real in-process Quire server and real files in a temporary directory.

mod support;

use std::fs;
use std::path::Path;

use anyhow::Result;
use quire_client::{Client, FileMirror, MirrorError};
use quire_tests::TestServer;
use support::{endpoint, quick_policy, text, wait_for_file, wait_for_text};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running mirror of `path` into `document`.
struct RunningMirror {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), MirrorError>>,
}

impl RunningMirror {
    fn start(server: &TestServer, document: &str, path: &Path) -> Self {
        let client = Client::connect(endpoint(server, document, None), quick_policy());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(FileMirror::new(path, client).run(shutdown.clone()));
        RunningMirror { shutdown, task }
    }

    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.task.await??;
        Ok(())
    }
}

/// Saving the file shows the edit to another client of the document.
#[tokio::test]
async fn file_edits_reach_other_clients() -> Result<()> {
    let server = TestServer::start().await?;
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("notes.md");
    fs::write(&path, "first line\n")?;
    let mirror = RunningMirror::start(&server, "notes", &path);
    let mut other = server.connect_synced("notes").await?;
    other.wait_for_text("first line\n").await?;

    fs::write(&path, "first line\nsecond line\n")?;
    other.wait_for_text("first line\nsecond line\n").await?;
    fs::write(&path, "the first line\nsecond line\n")?;
    other.wait_for_text("the first line\nsecond line\n").await?;
    mirror.stop().await
}

/// Another client's edit is written to the file by replacing it (never in place, so an editor
/// never reads half of it), keeping its permissions and leaving no temporary file behind.
#[tokio::test]
async fn remote_edits_replace_the_file_atomically() -> Result<()> {
    let server = TestServer::start().await?;
    let mut other = server.connect_synced("notes").await?;
    other.append_text("from the server\n").await?;
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("notes.md");
    let mirror = RunningMirror::start(&server, "notes", &path);
    wait_for_file(&path, "from the server\n").await?;
    #[cfg(unix)]
    let inode_before = {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        fs::metadata(&path)?.ino()
    };

    other.insert_text(0, "edited ").await?;
    wait_for_file(&path, "edited from the server\n").await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let metadata = fs::metadata(&path)?;
        assert_ne!(
            metadata.ino(),
            inode_before,
            "the file was rewritten in place"
        );
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    }
    let names: Vec<_> = fs::read_dir(directory.path())?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names, vec!["notes.md"]);
    mirror.stop().await
}

/// An edit of the file and another client's edit made without seeing each other both end up in
/// the file and at the other client.
#[tokio::test]
async fn concurrent_edits_on_both_sides_survive() -> Result<()> {
    let server = TestServer::start().await?;
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("notes.md");
    fs::write(&path, "one\ntwo\nthree\n")?;
    let mirror = RunningMirror::start(&server, "notes", &path);
    let other = Client::connect(endpoint(&server, "notes", None), quick_policy());
    wait_for_text(&other, "one\ntwo\nthree\n").await?;

    // The other client goes offline and edits; the file is edited meanwhile, and the edit
    // reaches the server (a third client sees it) before the other client comes back.
    let doc = other.doc().clone();
    other.shutdown().await?;
    {
        use yrs::{Text, Transact};
        let text = doc.get_or_insert_text(quire_client::TEXT_NAME);
        text.insert(&mut doc.transact_mut(), 4, "TWO ");
    }
    fs::write(&path, "one ONE\ntwo\nthree\n")?;
    let mut watcher = server.connect_synced("notes").await?;
    watcher.wait_for_text("one ONE\ntwo\nthree\n").await?;

    let other = Client::connect_with_doc(endpoint(&server, "notes", None), quick_policy(), doc);
    let merged = "one ONE\nTWO two\nthree\n";
    wait_for_text(&other, merged).await?;
    wait_for_file(&path, merged).await?;
    watcher.wait_for_text(merged).await?;
    assert_eq!(text(&other), merged);
    other.shutdown().await?;
    mirror.stop().await
}

/// While the server is down the file keeps being edited; after the restart the edits arrive.
#[tokio::test]
async fn file_edits_made_while_the_server_is_down_arrive_after_it_returns() -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = TestServer::start_in(data.path(), |_| {}).await?;
    let address = server.address();
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("notes.md");
    fs::write(&path, "before\n")?;
    let client = Client::connect(endpoint(&server, "notes", None), quick_policy());
    let mut status = client.watch_status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(FileMirror::new(&path, client).run(shutdown.clone()));
    let mut reader = server.connect_synced("notes").await?;
    reader.wait_for_text("before\n").await?;
    drop(reader);

    server.stop().await?;
    tokio::time::timeout(
        quire_tests::WAIT_LIMIT,
        status.wait_for(|status| {
            matches!(
                status.connection,
                quire_client::ConnectionState::Waiting { .. }
            )
        }),
    )
    .await??;
    fs::write(&path, "before\nduring\n")?;

    let server = TestServer::start_in(data.path(), |config| config.addr = address).await?;
    let mut reader = server.connect_synced("notes").await?;
    reader.wait_for_text("before\nduring\n").await?;
    shutdown.cancel();
    task.await??;
    Ok(())
}
