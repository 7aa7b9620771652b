//! `quire put URL DOC FILE`: makes a document's text equal a file's content.
//!
//! The change is a minimal diff, not a replacement: text both versions share stays the same CRDT
//! items, so others' cursors and concurrent edits inside it survive. The command exits once the
//! server has stored the change: it asks for the server's state vector (a SyncStep1) after
//! sending, and Quire answers only once every update received before is durable (with the
//! default `--durability strict`; with `relaxed`, once it is applied and queued for the next
//! flush), so a state vector covering the client's own is the acknowledgement.

use std::path::PathBuf;

use clap::Args;
use quire_client::{Client, apply_text_diff};
use tracing::info;
use yrs::{GetString, Transact};

use crate::cli::remote::{RemoteError, endpoint, one_shot_policy};

/// Arguments of `quire put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The Quire server: http(s)://host:port (or its ws(s):// address).
    pub server: String,
    /// The document id.
    pub doc: String,
    /// The file whose content the document's text becomes (`-`: standard input).
    pub file: PathBuf,
    /// An access token (`write`), when the server needs one.
    #[arg(long, env = "QUIRE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Replaces the document's text with the file's content and waits until it is stored.
pub async fn run(args: PutArgs) -> Result<(), RemoteError> {
    let content = read_content(&args.file).await?;
    let endpoint = endpoint(&args.server, &args.doc, args.token.as_deref())?;
    let mut client = Client::connect(endpoint, one_shot_policy());
    client.wait_synced().await?;
    let text = client.text();
    let edits = {
        let mut transaction = client.doc().transact_mut();
        let current = text.get_string(&transaction);
        apply_text_diff(&text, &mut transaction, &current, &content)
    };
    client.wait_stored().await?;
    info!(edits, "stored");
    client.shutdown().await?;
    Ok(())
}

async fn read_content(path: &PathBuf) -> Result<String, RemoteError> {
    let bytes = if path.as_os_str() == "-" {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        tokio::io::stdin()
            .read_to_end(&mut bytes)
            .await
            .map_err(|source| RemoteError::ReadFile {
                path: path.clone(),
                source,
            })?;
        bytes
    } else {
        tokio::fs::read(path)
            .await
            .map_err(|source| RemoteError::ReadFile {
                path: path.clone(),
                source,
            })?
    };
    String::from_utf8(bytes).map_err(|_| RemoteError::NotText { path: path.clone() })
}
