//! Runs the `quire-bench` binary against a Quire server started in this test process.

// Each test binary (smoke, cold_load) uses part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use server::{ServeConfig, Server};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// One bench server at a time in a test process. sled 0.34 shares state between every database
/// open in one process (a global lock and thread pool), and two servers busy at once in one test
/// process have twice hung in a flush that never became stable, each time while the second one
/// was opening its database. The server runs one database per process, so only tests meet this.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A Quire server on a free port of 127.0.0.1 with the limits a benchmark needs lifted.
pub struct BenchServer {
    pub address: SocketAddr,
    shutdown: CancellationToken,
    _data_dir: TempDir,
    /// Dropped last: the next test's server starts once this one is gone.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl BenchServer {
    pub async fn start() -> Result<Self> {
        let turn = ONE_AT_A_TIME.lock().await;
        let data_dir = tempfile::tempdir().context("creating the data directory")?;
        let mut config = ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir.path().to_path_buf(),
        );
        // The limits bench/README.md tells people to raise: one writer sends far more than
        // 1,000 messages a second, and every client comes from 127.0.0.1.
        config.max_messages_per_second = 1_000_000;
        config.max_connections_per_ip = 20_000;
        let shutdown = CancellationToken::new();
        let server = Server::bind(config, shutdown.clone())
            .await
            .context("binding the server")?;
        let address = server.local_addr();
        tokio::spawn(server.run());
        Ok(BenchServer {
            address,
            shutdown,
            _data_dir: data_dir,
            _turn: turn,
        })
    }

    /// Runs `quire-bench` with the global options pointing at this server (and this process as
    /// the server to sample), then `arguments`; returns the JSON lines it wrote.
    pub async fn run_bench(&self, arguments: &[&str]) -> Result<Vec<Value>> {
        let output_dir = tempfile::tempdir()?;
        let json = output_dir.path().join("out.jsonl");
        let url = format!("ws://{}", self.address);
        let pid = std::process::id().to_string();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_quire-bench"))
            .args([
                "--url",
                &url,
                "--room-path-prefix",
                "/ws/",
                "--label",
                "quire",
            ])
            .args(["--server-pid", &pid, "--json"])
            .arg(&json)
            .args(arguments)
            .output()
            .await
            .context("running quire-bench")?;
        if !output.status.success() {
            bail!(
                "quire-bench {arguments:?} failed: {}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let text = std::fs::read_to_string(&json).context("reading the JSON output")?;
        text.lines()
            .map(|line| serde_json::from_str(line).context("a JSON line"))
            .collect()
    }

    /// The server's metrics page URL.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.address)
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The automerge-paper trace: `$QUIRE_TRACES_DIR` or the repository's `../shared/data/traces`.
pub fn trace_path() -> String {
    let dir = std::env::var_os("QUIRE_TRACES_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/traces"),
        PathBuf::from,
    );
    let path = dir.join("automerge-paper.json.gz");
    assert!(
        path.exists(),
        "{} is missing: set QUIRE_TRACES_DIR to the editing traces",
        path.display()
    );
    path.display().to_string()
}

/// Checks the fields every measurement has and returns the single measurement of `workload`.
pub fn only_measurement<'a>(lines: &'a [Value], workload: &str) -> &'a Value {
    assert_eq!(lines.len(), 1, "one measurement: {lines:?}");
    let measurement = &lines[0];
    assert_eq!(measurement["workload"], workload, "{measurement}");
    assert_eq!(measurement["label"], "quire");
    assert_eq!(measurement["protocol"], "y-websocket");
    assert!(measurement["params"].is_object(), "{measurement}");
    assert!(measurement["metrics"].is_object(), "{measurement}");
    assert_eq!(
        measurement["valid"], true,
        "the run is valid: {}",
        measurement["problems"]
    );
    assert_eq!(measurement["problems"], Value::Array(Vec::new()));
    let server = &measurement["server"];
    assert_eq!(server["pid"], std::process::id(), "{measurement}");
    assert!(
        server["rss_bytes_end"].as_u64().unwrap_or(0) > 0,
        "{measurement}"
    );
    let generator = &measurement["generator"];
    assert!(
        generator["cpu_seconds"].as_f64().unwrap_or(0.0) > 0.0,
        "{measurement}"
    );
    assert!(
        generator["runqueue_wait_seconds"].is_number(),
        "{measurement}"
    );
    measurement
}

/// A number from a JSON value, failing clearly when absent.
pub fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}
