//! [`FileMirror`]: a local text file and a document's text, kept equal both ways, live. This is
//! `quire sync`, and the simplest way to give any editor collaborative editing.
//!
//! **Start.** Once the first sync completed, the file and the document are reconciled:
//! - the file is missing: it is created with the document's text;
//! - the document's text is empty and the file is not: the file's content is put into the
//!   document (starting a document from a local file);
//! - otherwise the document wins: its text is written to the file. A file and a document with no
//!   common history cannot be merged (every difference would look like a local edit, and a stale
//!   copy would undo everyone else's work), so the document, which others may be editing, is
//!   kept. A differing, non-empty file is first copied to `FILE.quire-backup`, so nothing local
//!   is lost.
//!
//! **Local edits.** The mirror remembers the text as it was when the file and the document last
//! agreed (the *base*), together with a second yrs document, the *shadow*, holding exactly the
//! state that produced the base. A change of the file is diffed against the base (see
//! [`crate::text_diff`]) and applied to the shadow, where the diff's positions are exact; the
//! resulting update is merged into the live document, which meanwhile may have received remote
//! edits. The CRDT merges both: concurrent edits on both sides survive, with no guessing about
//! positions.
//!
//! **Remote edits.** After every change (remote, or local just merged) the document's text is
//! written to the file atomically (see [`crate::file_io`]), the shadow catches up with the
//! document, and the base becomes the text written. The watcher then reports the mirror's own
//! write; reading it back finds the base, which is no edit, so nothing is echoed.
//!
//! Writing starts with reading the file, so a remote change, like a local one, waits until the
//! file has been quiet for [`crate::watcher::QUIET_PERIOD`] (no wait unless it was touched just
//! now; the mirror's own writes count, so a burst of remote changes is written in batches). An
//! editor saving without a rename truncates, then writes; an empty file read in between would
//! become a deletion of the whole text, sent to everyone, and the mirror's rename would leave
//! the editor writing into an unlinked file.
//!
//! **Races.** Just before writing, the file is read once more; if the editor saved meanwhile,
//! that save is merged first. An editor saving between that read and the rename would be
//! overwritten (its content is merged into neither side), a window of microseconds that only
//! file locking, which editors do not do, could close. Deleting the file does not delete the
//! document's text: the file is written again with the next change.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Transact, Update};

use crate::client::{Client, TEXT_NAME};
use crate::error::MirrorError;
use crate::file_io::{read_text, write_atomically};
use crate::status::ConnectionState;
use crate::text_diff::apply_text_diff;
use crate::watcher::FileWatcher;

/// How many times one reconciliation starts over because the file changed under it before the
/// mirror gives up for this round (the next change starts another).
const MAX_RACES: usize = 8;

/// A file kept equal to a document's text.
pub struct FileMirror {
    path: PathBuf,
    client: Client,
    /// The document as of the last agreement of file and document.
    shadow: Doc,
    /// The text of `shadow`: what the file held when the two last agreed.
    base: String,
}

impl FileMirror {
    /// A mirror of `path` for `client`'s document text. `path` may not exist yet; its directory
    /// must. A symbolic link is followed, so the file it points to is the one kept in sync.
    pub fn new(path: impl AsRef<Path>, client: Client) -> Self {
        let path = path.as_ref();
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        FileMirror {
            path,
            client,
            shadow: Client::new_doc(),
            base: String::new(),
        }
    }

    /// The client syncing the document.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Syncs until `shutdown` is cancelled (then closes the connection cleanly) or the client
    /// stops for good.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), MirrorError> {
        let result = self.mirror(&shutdown).await;
        let closed = self.client.shutdown().await;
        result?;
        Ok(closed?)
    }

    async fn mirror(&mut self, shutdown: &CancellationToken) -> Result<(), MirrorError> {
        // Watch before the first read, so no change made after it goes unnoticed.
        let mut watcher = FileWatcher::new(&self.path)?;
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            synced = self.client.wait_synced() => synced?,
        }
        self.start().await?;
        let mut status = self.client.watch_status();
        let mut remote_seen = status.borrow_and_update().remote_updates;
        // A remote change not yet written to the file: it waits for the file to be quiet.
        let mut remote_pending = false;
        loop {
            // Made before the `select!`, which holds the watcher borrowed for `changed`.
            let quiet = watcher.quiet();
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = watcher.changed() => {
                    remote_pending = false;
                    self.reconcile().await?;
                }
                _ = quiet, if remote_pending => {
                    remote_pending = false;
                    self.reconcile().await?;
                }
                changed = status.changed() => {
                    let (stopped, remote_updates) = {
                        let now = status.borrow_and_update();
                        (changed.is_err() || now.connection == ConnectionState::Stopped, now.remote_updates)
                    };
                    if stopped {
                        self.client.stopped().await?;
                        return Ok(());
                    }
                    if remote_updates != remote_seen {
                        remote_seen = remote_updates;
                        remote_pending = true;
                    }
                }
            }
        }
    }

    /// The first reconciliation; see the module documentation.
    async fn start(&mut self) -> Result<(), MirrorError> {
        for _ in 0..MAX_RACES {
            let file = read_text(&self.path).await?;
            let document = self.document_text();
            match &file {
                Some(file) if document.is_empty() && !file.is_empty() => {
                    info!(path = %self.path.display(), "the document is empty: putting the file into it");
                    let text = self.client.text();
                    let mut transaction = self.client.doc().transact_mut();
                    apply_text_diff(&text, &mut transaction, "", file);
                }
                Some(file) if *file != document && !file.is_empty() => {
                    let backup = backup_path(&self.path);
                    warn!(
                        path = %self.path.display(),
                        backup = %backup.display(),
                        "the file differs from the document: the document wins, the file is kept as a backup"
                    );
                    write_atomically(&backup, file.clone()).await?;
                }
                _ => {}
            }
            // The shadow is still empty, and so is the base; the write-back brings both to the
            // document's state.
            if self.write_back(file.as_deref()).await? {
                info!(path = %self.path.display(), "mirroring");
                return Ok(());
            }
        }
        Err(MirrorError::Unstable {
            path: self.path.clone(),
        })
    }

    /// Merges a change of the file, if any, then writes the document back; see the module
    /// documentation.
    async fn reconcile(&mut self) -> Result<(), MirrorError> {
        for _ in 0..MAX_RACES {
            let file = read_text(&self.path).await?;
            if let Some(file) = &file
                && *file != self.base
            {
                self.merge_local_edit(file);
            }
            if self.write_back(file.as_deref()).await? {
                return Ok(());
            }
        }
        warn!(path = %self.path.display(), "the file keeps changing; retrying with the next change");
        Ok(())
    }

    /// Applies the change from the base to `file` on the shadow and merges it into the document.
    fn merge_local_edit(&mut self, file: &str) {
        let update = {
            let text = self.shadow.get_or_insert_text(TEXT_NAME);
            let mut transaction = self.shadow.transact_mut();
            apply_text_diff(&text, &mut transaction, &self.base, file);
            transaction.encode_update_v1()
        };
        self.base = file.to_owned();
        let update = Update::decode_v1(&update).expect("yrs decodes its own update");
        self.client
            .doc()
            .transact_mut()
            .apply_update(update)
            .expect("an update of a replica of this document applies");
        info!(path = %self.path.display(), "local edit sent");
    }

    /// Writes the document's text to the file unless it already holds it (`file` is what was
    /// read last), and makes it the base. False if the file changed since `file` was read:
    /// nothing was written, the caller starts over.
    async fn write_back(&mut self, file: Option<&str>) -> Result<bool, MirrorError> {
        // The root is fetched before the read transaction: fetching may write (it creates the
        // root), and a write waits for every read, this one included.
        let root = self.client.text();
        let (text, missing) = {
            let transaction = self.client.doc().transact();
            let text = root.get_string(&transaction);
            let missing = transaction.encode_diff_v1(&self.shadow_state());
            (text, missing)
        };
        if file != Some(text.as_str()) {
            if read_text(&self.path).await?.as_deref() != file {
                return Ok(false);
            }
            write_atomically(&self.path, text.clone()).await?;
            info!(path = %self.path.display(), "remote changes written");
        }
        let missing = Update::decode_v1(&missing).expect("yrs decodes its own update");
        self.shadow
            .transact_mut()
            .apply_update(missing)
            .expect("the document's own update applies to its replica");
        self.base = text;
        Ok(true)
    }

    fn document_text(&self) -> String {
        self.client.text().get_string(&self.client.doc().transact())
    }

    fn shadow_state(&self) -> StateVector {
        self.shadow.transact().state_vector()
    }
}

/// `FILE.quire-backup` beside the file.
fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".quire-backup");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use crdt_core::REMOTE_ORIGIN;
    use yrs::Text;

    use super::*;
    use crate::{Endpoint, ReconnectPolicy};

    /// The mirror's own window of concurrency: a remote change arrived but is not in the file
    /// yet when the editor saves an edit of the older text. Both must survive.
    #[tokio::test]
    async fn a_save_merges_with_remote_changes_not_yet_written() {
        // Nothing listens there; the document works the same offline.
        let endpoint = Endpoint::new("http://127.0.0.1:9", "notes", None).unwrap();
        let client = Client::connect(endpoint, ReconnectPolicy::default());
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("notes.md");
        let mut mirror = FileMirror::new(&path, client);
        let text = mirror.client.text();
        text.insert(&mut mirror.client.doc().transact_mut(), 0, "one\ntwo\n");
        assert!(mirror.write_back(None).await.unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");

        text.insert(
            &mut mirror.client.doc().transact_mut_with(REMOTE_ORIGIN),
            0,
            "zero\n",
        );
        std::fs::write(&path, "one\n2\n").unwrap();
        mirror.reconcile().await.unwrap();

        assert_eq!(std::fs::read_to_string(&path).unwrap(), "zero\none\n2\n");
        assert_eq!(mirror.document_text(), "zero\none\n2\n");
        assert_eq!(mirror.base, "zero\none\n2\n");
    }
}
