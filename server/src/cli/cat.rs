//! `quire cat URL DOC`: prints a document's text as a live client sees it.

use std::io::Write;

use clap::Args;
use quire_client::Client;
use yrs::{GetString, Transact};

use crate::cli::remote::{RemoteError, endpoint, one_shot_policy};

/// Arguments of `quire cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// The Quire server: http(s)://host:port (or its ws(s):// address).
    pub server: String,
    /// The document id.
    pub doc: String,
    /// An access token (`read` suffices), when the server needs one.
    #[arg(long, env = "QUIRE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Syncs once, prints the text to stdout, disconnects.
pub async fn run(args: CatArgs) -> Result<(), RemoteError> {
    let endpoint = endpoint(&args.server, &args.doc, args.token.as_deref())?;
    let mut client = Client::connect(endpoint, one_shot_policy());
    client.wait_synced().await?;
    let text = client.text().get_string(&client.doc().transact());
    client.shutdown().await?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(RemoteError::Output)
}
