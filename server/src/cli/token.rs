//! `quire token`: mints an access token for a document, for operators and for the services that
//! hand tokens to their users.

use std::time::Duration;

use clap::Args;
use server::auth::{AccessLevel, Authenticator};

/// Arguments of `quire token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The document: an exact id, or a prefix ending in `*` (`*` alone: every document).
    #[arg(long)]
    pub doc: String,
    /// What the token allows.
    #[arg(long, value_enum, default_value_t = AccessLevel::Write)]
    pub access: AccessLevel,
    /// How long the token is valid, e.g. `30m`, `1h`, `7days`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    /// The server's `--auth-secret`.
    #[arg(long, env = "QUIRE_AUTH_SECRET", hide_env_values = true)]
    pub secret: String,
}

/// Prints a token for `args` on stdout.
pub fn run(args: TokenArgs) -> Result<(), server::auth::AuthError> {
    let token = Authenticator::new(&args.secret).issue(&args.doc, args.access, args.ttl)?;
    println!("{token}");
    Ok(())
}
