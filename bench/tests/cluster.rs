//! `quire-bench` across a cluster: two Quire nodes on one PostgreSQL database, linked by a real
//! `redis-server`, with each room's clients spread over both (`--url a,b`), so most deliveries
//! cross Redis. Every update must reach every client for a run to be valid.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use server::config::StoreLocation;
use server::{ServeConfig, Server};
use tokio_util::sync::CancellationToken;

/// A `redis-server` on a free port, killed when dropped.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start() -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (scripts/test.sh installs it)")?;
        let stdout = child.stdout.take().context("redis-server's output")?;
        // Ready when its log says so: an event to wait for, not a guess of time.
        let ready = std::io::BufRead::lines(std::io::BufReader::new(stdout))
            .map_while(Result::ok)
            .any(|line| line.contains("Ready to accept connections"));
        if !ready {
            bail!("redis-server exited before accepting connections");
        }
        Ok(Redis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a node of the cluster on `store` and `redis`; resolves once its link is up.
async fn start_node(store: &str, redis: &str, shutdown: &CancellationToken) -> Result<SocketAddr> {
    let data_dir = std::env::temp_dir();
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), data_dir);
    config.store = StoreLocation::Postgres(store.to_owned());
    config.cluster = Some(redis.to_owned());
    config.max_messages_per_second = 1_000_000;
    config.max_connections_per_ip = 20_000;
    let server = Server::bind(config, shutdown.clone())
        .await
        .context("binding a node")?;
    let address = server.local_addr();
    tokio::spawn(server.run());
    let ready = format!("http://{address}/readyz");
    // The link connects in the background: poll the node's own answer (outside this process's
    // events), for at most ten seconds.
    for _ in 0..200 {
        if reqwest::get(&ready)
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            return Ok(address);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the node at {address} never became ready")
}

/// Runs `quire-bench` against `nodes` with `arguments`; its one measurement.
async fn run_bench(nodes: &[SocketAddr], arguments: &[&str]) -> Result<Value> {
    let output_dir = tempfile::tempdir()?;
    let json = output_dir.path().join("out.jsonl");
    let urls: Vec<String> = nodes.iter().map(|node| format!("ws://{node}")).collect();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_quire-bench"))
        .args(["--url", &urls.join(","), "--room-path-prefix", "/ws/"])
        .args(["--label", "quire", "--server-pid"])
        .arg(std::process::id().to_string())
        .arg("--json")
        .arg(&json)
        .args(arguments)
        .output()
        .await?;
    if !output.status.success() {
        bail!(
            "quire-bench {arguments:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = std::fs::read_to_string(&json)?;
    let lines: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    Ok(support::only_measurement(&lines, lines[0]["workload"].as_str().unwrap_or("")).clone())
}

/// W2 and W3 with their clients spread over two nodes: every client receives every update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_spread_over_two_nodes_receive_every_update() {
    let store = tokio::task::spawn_blocking(storage::testing::postgres::fresh_database_url)
        .await
        .unwrap();
    let redis = Redis::start().unwrap();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(start_node(&store, &redis.url, &shutdown).await.unwrap());
    }

    let many_rooms = run_bench(
        &nodes,
        &[
            "many-rooms",
            "--quick",
            "--rooms",
            "6",
            "--clients-per-room",
            "3",
        ],
    )
    .await
    .unwrap();
    let metrics = &many_rooms["metrics"];
    assert!(metrics["updates_sent"].as_u64().unwrap() > 0, "{metrics}");
    assert_eq!(
        metrics["deliveries"], metrics["expected_deliveries"],
        "{metrics}"
    );

    let hot_room = run_bench(
        &nodes,
        &[
            "hot-room",
            "--quick",
            "--readers",
            "6",
            "--mode",
            "fixed",
            "--rate",
            "50",
        ],
    )
    .await
    .unwrap();
    let metrics = &hot_room["metrics"];
    let sent = metrics["updates_sent"].as_u64().unwrap();
    assert!(sent > 0, "{metrics}");
    assert_eq!(metrics["deliveries"].as_u64(), Some(sent * 6), "{metrics}");
}
