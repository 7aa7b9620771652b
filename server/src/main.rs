//! The `quire` binary: `quire serve` (the default) runs the server; `quire docs ...` works on a
//! stopped server's data directory (see [`cli`]).

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::{ServeConfig, Server};
use tokio_util::sync::CancellationToken;
use tracing::info;
use tracing_subscriber::EnvFilter;

/// mimalloc returns freed memory to the OS; with glibc's malloc the memory of released rooms
/// stayed in its arenas, so RSS never came back down after a burst of documents (measured by
/// tests/js/memory.test.mjs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    serve: ServeConfig,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeConfig),
    /// List, export or compact stored documents; the server must be stopped.
    Docs(cli::documents::DocsArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match cli.command {
        Some(Command::Docs(args)) => {
            // One line with the whole cause chain: an operator's command needs no backtrace.
            if let Err(error) = cli::documents::run(args) {
                eprintln!("error: {:#}", anyhow::Error::new(error));
                std::process::exit(1);
            }
            return Ok(());
        }
        Some(Command::Serve(config)) => config,
        None => cli.serve,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking work is storage: loads, compactions, listings. Hundreds of rooms closing at
        // once would otherwise start hundreds of threads (tokio allows 512), each keeping its
        // own allocator arena; a few threads keep the disk just as busy.
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
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
