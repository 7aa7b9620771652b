//! `quire-bench`: a load generator for Yjs sync servers (issue #7).
//!
//! It speaks y-protocols over WebSocket, either as y-websocket clients (one socket per room, the
//! room in the URL) or as Hocuspocus clients (the document name before every message, Auth
//! first), so Quire, `@y/websocket-server`, Hocuspocus and the null relay are measured by the
//! same clients. Everything runs on one thread (a current-thread tokio runtime): the generator
//! then uses one core, the server the other, and the generator's own cost per message is as
//! small as it can be. Each workload prints a line for people and appends one JSON object per
//! measurement to `--json` (the contract in bench/README.md).
//!
//! Layout:
//! - `protocol`: the two framings and a cheap classifier of received frames;
//! - `update_id`: which writer update a received update is, from its first bytes;
//! - `connection`: connecting, authenticating and syncing one client;
//! - `traffic`: one writer and its readers in a room (ledger, reader, writer);
//! - `trace`: editing traces replayed into per-edit Yjs updates;
//! - `document_check`: checking a received whole document, cheaply when repeated;
//! - `report`: latency histograms and the JSON measurement;
//! - `server_sampler`: the server's RSS and CPU time from /proc;
//! - `generator_usage`: the generator's own CPU time and wait for a core;
//! - `metrics_probe`: one gauge from a Prometheus page;
//! - `fd_limit`: raising the open-file limit for thousands of sockets;
//! - `workloads`: W1–W7.

mod connection;
mod document_check;
mod error;
mod fd_limit;
mod generator_usage;
mod metrics_probe;
mod protocol;
mod report;
mod server_sampler;
mod trace;
mod traffic;
mod update_id;
mod wire;
mod workloads;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use connection::Connector;
use protocol::Protocol;
use report::RunContext;
use server_sampler::ServerSampler;
use workloads::Bench;

/// Load generator for Yjs sync servers.
#[derive(Debug, Parser)]
#[command(name = "quire-bench", version)]
struct Cli {
    /// Server base URL, e.g. ws://127.0.0.1:4000; several, comma-separated, for the nodes of a
    /// cluster, which clients join in turn.
    #[arg(
        long,
        global = true,
        default_value = "ws://127.0.0.1:8080",
        value_delimiter = ','
    )]
    url: Vec<String>,
    /// Path before the room name (Quire: /ws/; @y/websocket-server and the null relay: /).
    /// Hocuspocus clients open `{url}{prefix}` itself (Quire: /hocuspocus).
    #[arg(long, global = true, default_value = "/")]
    room_path_prefix: String,
    /// Wire protocol.
    #[arg(long, global = true, value_enum, default_value_t = Protocol::YWebsocket)]
    protocol: Protocol,
    /// Free text naming the server in reports.
    #[arg(long, global = true, default_value = "server")]
    label: String,
    /// Server process to sample RSS and CPU time of (/proc/PID); several, comma-separated, for
    /// a cluster's nodes, whose RSS and CPU time are summed.
    #[arg(long, global = true, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// File to append one JSON object per measurement to.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Token: `?token=` for y-websocket, the Auth message for Hocuspocus.
    #[arg(long, global = true)]
    token: Option<String>,
    /// Local addresses client sockets are bound to in turn (e.g. 127.0.0.2,127.0.0.3), past the
    /// ephemeral-port range and per-address connection limits.
    #[arg(long, global = true, value_delimiter = ',')]
    source_addresses: Vec<IpAddr>,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// W1: replay an editing trace from one writer to one reader.
    Replay(workloads::replay::ReplayOptions),
    /// W2: one writer, N readers.
    HotRoom(workloads::hot_room::HotRoomOptions),
    /// W3: many rooms of a few clients.
    ManyRooms(workloads::many_rooms::ManyRoomsOptions),
    /// W4: K clients join a room holding a large document.
    JoinStorm(workloads::join_storm::JoinStormOptions),
    /// W5: N clients updating awareness at a fixed rate.
    Awareness(workloads::awareness::AwarenessOptions),
    /// W6: first sync of stored documents, cold and warm.
    ColdLoad(workloads::cold_load::ColdLoadOptions),
    /// W7: many idle synced clients; server memory per connection.
    Idle(workloads::idle::IdleOptions),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let open_files = fd_limit::raise_to_hard_limit().context("raising the open-file limit")?;
    tracing::info!(open_files, "open-file limit");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let connector = Connector::new(
        &cli.url,
        &cli.room_path_prefix,
        cli.protocol,
        cli.token.clone(),
        cli.source_addresses.clone(),
    )?;
    let bench = Bench {
        connector: Arc::new(connector),
        context: RunContext {
            label: cli.label.clone(),
            protocol: cli.protocol.name(),
        },
        sampler: (!cli.server_pid.is_empty()).then(|| ServerSampler::new(&cli.server_pid)),
        json: cli.json.clone(),
        run_id: format!("{:08x}", rand::random::<u32>()),
    };
    let result = match &cli.workload {
        Workload::Replay(options) => workloads::replay::run(&bench, options).await,
        Workload::HotRoom(options) => workloads::hot_room::run(&bench, options).await,
        Workload::ManyRooms(options) => workloads::many_rooms::run(&bench, options).await,
        Workload::JoinStorm(options) => workloads::join_storm::run(&bench, options).await,
        Workload::Awareness(options) => workloads::awareness::run(&bench, options).await,
        Workload::ColdLoad(options) => workloads::cold_load::run(&bench, options).await,
        Workload::Idle(options) => workloads::idle::run(&bench, options).await,
    };
    result.with_context(|| format!("{:?} against {}", cli.workload, cli.url.join(",")))
}
