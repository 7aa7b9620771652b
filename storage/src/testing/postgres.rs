//! Throwaway PostgreSQL clusters for tests: `initdb` into a temporary directory, start
//! `postgres` on a free port, hand out a fresh database per test.
//!
//! One shared cluster serves a whole test process ([`PostgresCluster::shared`]); a test that
//! stops and restarts the server takes a private one ([`PostgresCluster::start_new`]) so it
//! does not pull the database from under the others.
//!
//! The server must not outlive the test process, even one that panics or is killed, and
//! `Drop` does not run on statics or on SIGKILL. So `postgres` runs under a small shell that
//! waits for a line on its stdin, a pipe from the test process: `stop` stops the server and
//! keeps its files (for a restart); end-of-file, which the kernel delivers when the test
//! process exits in any way, stops the server and removes the directory.
//!
//! PostgreSQL refuses to run as root, so as root (CI, containers) the directory is given to
//! the `postgres` user and `initdb`/`postgres` run as that user through `runuser`. Missing
//! binaries are a test failure with instructions, not a skip: a skipped storage backend is an
//! untested one.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

/// How long a starting server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `postgres` until a line or end-of-file arrives on stdin (see the module docs).
/// Arguments: $0 the postgres binary, $1 the cluster directory, $2 the port.
const SUPERVISOR: &str = r#"
"$0" -D "$1/data" -p "$2" -c listen_addresses=127.0.0.1 -c unix_socket_directories="$1" \
    -c fsync=on -c shared_buffers=16MB -c max_connections=200 \
    </dev/null >>"$1/postgres.log" 2>&1 &
child=$!
read -r command
kill -INT "$child"
wait "$child"
[ "$command" = stop ] || rm -rf "$1"
"#;

/// A PostgreSQL server of its own, in a temporary directory, reached with trust auth as
/// `postgres` on 127.0.0.1.
pub struct PostgresCluster {
    directory: PathBuf,
    binaries: PathBuf,
    port: u16,
    run_as_postgres: bool,
    supervisor: Mutex<Option<Child>>,
    databases: AtomicU64,
}

impl PostgresCluster {
    /// The cluster shared by every test of this process, started on first use.
    pub fn shared() -> &'static PostgresCluster {
        static SHARED: OnceLock<PostgresCluster> = OnceLock::new();
        SHARED.get_or_init(PostgresCluster::start_new)
    }

    /// A new cluster of the caller's own; dropping it stops the server and removes its files.
    ///
    /// # Panics
    ///
    /// If the PostgreSQL binaries are missing or the server does not start, with the reason.
    pub fn start_new() -> PostgresCluster {
        static CLUSTERS: AtomicU64 = AtomicU64::new(0);
        let binaries = find_binaries().unwrap_or_else(|message| panic!("{message}"));
        let run_as_postgres = rustix::process::geteuid().is_root();
        let directory = std::env::temp_dir().join(format!(
            "quire-pg-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&directory)
            .unwrap_or_else(|error| panic!("create {}: {error}", directory.display()));
        if run_as_postgres {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(&directory, Some(uid), Some(gid))
                .unwrap_or_else(|error| panic!("chown {}: {error}", directory.display()));
        }
        let mut initdb = command(run_as_postgres, &binaries.join("initdb"));
        initdb.arg("-D").arg(directory.join("data")).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]);
        let output = initdb
            .output()
            .unwrap_or_else(|error| panic!("run initdb: {error}"));
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = PostgresCluster {
            directory,
            binaries,
            port: free_port(),
            run_as_postgres,
            supervisor: Mutex::new(None),
            databases: AtomicU64::new(0),
        };
        cluster.start();
        cluster
    }

    /// The port the server listens on (kept across `stop`/`start`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database with a name unique in this cluster and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!(
            "quire_test_{}",
            self.databases.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = connect(&self.url("postgres"))
            .unwrap_or_else(|error| panic!("connect to the test cluster: {error}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|error| panic!("create database {name}: {error:?}"));
        self.url(&name)
    }

    /// Starts the server (again, after [`PostgresCluster::stop`]) and waits until it accepts
    /// connections.
    ///
    /// # Panics
    ///
    /// If it is running already, or does not accept connections within a minute.
    pub fn start(&self) {
        let mut supervisor = self.supervisor();
        assert!(supervisor.is_none(), "the test cluster is running already");
        let mut shell = command(self.run_as_postgres, Path::new("sh"));
        shell
            .arg("-c")
            .arg(SUPERVISOR)
            .arg(self.binaries.join("postgres"))
            .arg(&self.directory)
            .arg(self.port.to_string())
            .stdin(Stdio::piped());
        let child = shell
            .spawn()
            .unwrap_or_else(|error| panic!("start postgres: {error}"));
        *supervisor = Some(child);
        let started = Instant::now();
        let url = self.url("postgres");
        loop {
            match connect(&url) {
                Ok(_) => return,
                Err(error) if started.elapsed() > READY_TIMEOUT => panic!(
                    "the test PostgreSQL on port {} did not accept connections within {:?} \
                     ({error}); its log:\n{}",
                    self.port,
                    READY_TIMEOUT,
                    std::fs::read_to_string(self.directory.join("postgres.log"))
                        .unwrap_or_default()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Stops the server (fast shutdown: open connections are cut) and keeps its files, for a
    /// test of what clients do while the database is down.
    pub fn stop(&self) {
        let Some(mut child) = self.supervisor().take() else {
            return;
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A failed write means the shell is gone already, which is what stopping wants.
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = child.wait();
    }

    fn supervisor(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.supervisor().take() {
            // End-of-file: the shell stops the server and removes the directory.
            drop(child.stdin.take());
            let _ = child.wait();
        } else {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }
}

/// A fresh database on the shared cluster, as a URL for `PostgresStore::connect`.
pub fn fresh_database_url() -> String {
    PostgresCluster::shared().create_database()
}

fn connect(url: &str) -> Result<Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(2));
    config.connect(NoTls)
}

/// `program` run as the `postgres` user when this process is root, else as it is.
fn command(run_as_postgres: bool, program: &Path) -> Command {
    if run_as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A port nothing listens on now. Another process could take it before the server does; the
/// ports the kernel hands out rotate, so that is rare enough for tests.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("find a free port: {error}"))
}

/// The uid and gid of the `postgres` user, from `/etc/passwd`.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .unwrap_or_else(|| {
            panic!(
                "running as root, PostgreSQL needs the `postgres` user, which does not exist: \
                 install the server (apt-get install postgresql; scripts/test.sh does)"
            )
        })
}

/// The directory holding `initdb` and `postgres`: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian does not put them on PATH), else PATH.
fn find_binaries() -> Result<PathBuf, String> {
    let has_both = |directory: &Path| {
        directory.join("initdb").is_file() && directory.join("postgres").is_file()
    };
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort();
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    from_pg_config
        .into_iter()
        .chain(debian.into_iter().rev().map(|(_, directory)| directory))
        .chain(on_path)
        .find(|directory| has_both(directory))
        .ok_or_else(|| {
            "PostgreSQL server binaries (initdb, postgres) not found via `pg_config --bindir`, \
             /usr/lib/postgresql/*/bin or PATH: the PostgreSQL store's tests need them \
             (Debian: apt-get install postgresql; scripts/test.sh installs it)"
                .to_owned()
        })
}
