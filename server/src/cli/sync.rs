//! `quire sync FILE --server URL --doc ID`: keeps a local file and a document's text equal, both
//! ways, live, until interrupted. Any editor gets collaborative editing by editing the file; see
//! `quire_client::FileMirror` for how the file and the document are reconciled.

use std::path::PathBuf;

use clap::Args;
use quire_client::{Client, FileMirror, ReconnectPolicy};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cli::remote::{RemoteError, endpoint};

/// Arguments of `quire sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The file to keep in sync; created if missing. If the document is empty the file's
    /// content goes into it; otherwise the document's text replaces the file's (the old content
    /// is kept as FILE.quire-backup).
    pub file: PathBuf,
    /// The Quire server: http(s)://host:port (or its ws(s):// address).
    #[arg(long)]
    pub server: String,
    /// The document id.
    #[arg(long)]
    pub doc: String,
    /// An access token (`quire token --doc ID --access write`), when the server needs one.
    #[arg(long, env = "QUIRE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Mirrors until `shutdown` is cancelled (Ctrl-C, SIGTERM) or the server refuses for good.
pub async fn run(args: SyncArgs, shutdown: CancellationToken) -> Result<(), RemoteError> {
    let endpoint = endpoint(&args.server, &args.doc, args.token.as_deref())?;
    info!(file = %args.file.display(), %endpoint, "syncing");
    let client = Client::connect(endpoint, ReconnectPolicy::default());
    FileMirror::new(&args.file, client).run(shutdown).await?;
    info!("stopped");
    Ok(())
}
