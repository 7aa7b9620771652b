//! The `quire` binary: `quire serve` (the default) runs the server; `quire config print` shows
//! the settings it would run with; `quire docs ...` works on a stopped server's data directory;
//! `quire sync | cat | put` talk to a running server as a client (see [`cli`]).

mod allocator;
mod cli;

use anyhow::Context;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use server::config::{self, ServeArgs};
use server::logging::{self, LogFormat};
use server::{ServeConfig, Server};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Threads for blocking storage work; see `main`.
const BLOCKING_THREADS: usize = 16;

/// Quire: a real-time collaborative document server for Yjs clients.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Settings for the default `serve` command.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Show the configuration `serve` would run with.
    Config(ConfigArgs),
    /// List, export or compact stored documents; the server must be stopped.
    Docs(cli::documents::DocsArgs),
    /// Print an access token for a document (signed with the server's --auth-secret).
    Token(cli::token::TokenArgs),
    /// Keep a local file and a document's text equal, both ways, live, until Ctrl-C.
    Sync(cli::sync::SyncArgs),
    /// Print a document's text from a running server.
    Cat(cli::cat::CatArgs),
    /// Make a document's text on a running server equal a file's content (a minimal diff);
    /// returns once the server has stored it.
    Put(cli::put::PutArgs),
}

#[derive(Args)]
struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective settings as TOML, each with where its value came from (flag, env,
    /// file or default); secrets are masked.
    Print(ServeArgs),
}

fn main() -> anyhow::Result<()> {
    allocator::start_returning_freed_memory().context("cannot start the memory thread")?;
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let (serve_matches, print): (&ArgMatches, bool) = match cli.command {
        Some(Command::Docs(args)) => {
            logging::init(LogFormat::Pretty);
            // One line with the whole cause chain: an operator's command needs no backtrace.
            if let Err(error) = cli::documents::run(args) {
                eprintln!("error: {:#}", anyhow::Error::new(error));
                std::process::exit(1);
            }
            return Ok(());
        }
        Some(Command::Token(args)) => {
            if let Err(error) = cli::token::run(args) {
                eprintln!("error: {error}");
                std::process::exit(1);
            }
            return Ok(());
        }
        Some(Command::Sync(args)) => {
            cli::remote::init_logging("info");
            return run_remote(|shutdown| cli::sync::run(args, shutdown));
        }
        Some(Command::Cat(args)) => {
            cli::remote::init_logging("warn");
            return run_remote(|shutdown| until_interrupted(shutdown, cli::cat::run(args)));
        }
        Some(Command::Put(args)) => {
            cli::remote::init_logging("warn");
            return run_remote(|shutdown| until_interrupted(shutdown, cli::put::run(args)));
        }
        Some(Command::Serve(_)) => (subcommand_matches(&matches), false),
        Some(Command::Config(_)) => {
            let config = subcommand_matches(&matches);
            (subcommand_matches(config), true)
        }
        None => (&matches, false),
    };
    let effective = match config::resolve(serve_matches) {
        Ok(effective) => effective,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    if print {
        print!("{}", effective.to_toml());
        return Ok(());
    }
    let config = effective.config;
    logging::init(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking work is storage: loads, compactions, listings. Hundreds of rooms closing at
        // once would otherwise start hundreds of threads (tokio allows 512), each keeping its
        // own allocator arena; a few threads keep the disk just as busy.
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .context("cannot start the async runtime")?;
    // One line with the cause chain, as for every other command: a start-up failure (a held
    // data dir, a bad certificate) is an operator's problem, not a backtrace's.
    if let Err(error) = runtime.block_on(serve(config)) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
    // A storage operation stuck on a device that stopped answering must not keep the process
    // alive past shutdown: what was durable is, and nothing more can be made so.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

/// Runs a command that talks to a server; SIGINT and SIGTERM cancel the token it is given. A
/// failure is printed as one line with its causes, and exits with 1.
fn run_remote<Run, Running>(command: Run) -> anyhow::Result<()>
where
    Run: FnOnce(CancellationToken) -> Running,
    Running: Future<Output = Result<(), cli::remote::RemoteError>>,
{
    // One connection and a file: one thread is plenty.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(async {
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        command(shutdown).await
    });
    if let Err(error) = result {
        eprintln!("error: {:#}", anyhow::Error::new(error));
        std::process::exit(1);
    }
    Ok(())
}

/// `command`, or [`cli::remote::RemoteError::Interrupted`] once `shutdown` is cancelled.
async fn until_interrupted(
    shutdown: CancellationToken,
    command: impl Future<Output = Result<(), cli::remote::RemoteError>>,
) -> Result<(), cli::remote::RemoteError> {
    tokio::select! {
        result = command => result,
        _ = shutdown.cancelled() => Err(cli::remote::RemoteError::Interrupted),
    }
}

/// The matches of the subcommand `matches` was parsed with.
fn subcommand_matches(matches: &ArgMatches) -> &ArgMatches {
    matches
        .subcommand()
        .map(|(_, matches)| matches)
        .expect("clap parsed a subcommand")
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let server = Server::bind(config, shutdown.clone()).await?;
    tokio::spawn(cancel_on_signal(shutdown));
    server.run().await?;
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => info!("interrupted: shutting down"),
            _ = terminate.recv() => info!("terminated: shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    shutdown.cancel();
}
