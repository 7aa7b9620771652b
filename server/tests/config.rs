//! `quire config print`, the `--config` file and `--log-format json`, against the real binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary with no `QUIRE_*` variables inherited, so only what a test sets applies.
fn quire() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quire"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("QUIRE_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the quire binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "quire failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "quire should have refused");
    let stderr = String::from_utf8(output.stderr.clone()).expect("UTF-8 errors");
    assert!(!stderr.contains("panicked"), "quire panicked: {stderr}");
    stderr
}

fn write_file(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("quire.toml");
    std::fs::write(&path, text).expect("write the config file");
    path
}

/// The line of `key` in `quire config print`'s output.
fn line<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|line| line.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{printed}"))
}

#[test]
fn print_shows_every_default() {
    let printed = stdout(&run(quire().args(["config", "print"])));
    assert_eq!(
        line(&printed, "addr"),
        "addr = \"127.0.0.1:8080\" # default"
    );
    assert_eq!(
        line(&printed, "data_dir"),
        "data_dir = \"./quire-data\" # default"
    );
    assert_eq!(
        line(&printed, "durability"),
        "durability = \"strict\" # default"
    );
    assert_eq!(
        line(&printed, "max_message_bytes"),
        "max_message_bytes = 33554432 # default"
    );
    assert_eq!(
        line(&printed, "max_body_bytes"),
        "max_body_bytes = 67108864 # default"
    );
    assert_eq!(
        line(&printed, "cache_bytes"),
        "cache_bytes = 134217728 # default"
    );
    assert_eq!(
        line(&printed, "client_queue_frames"),
        "client_queue_frames = 1024 # default"
    );
    assert_eq!(
        line(&printed, "ping_interval_millis"),
        "ping_interval_millis = 20000 # default"
    );
    assert_eq!(
        line(&printed, "shutdown_grace_millis"),
        "shutdown_grace_millis = 5000 # default"
    );
    assert_eq!(
        line(&printed, "log_format"),
        "log_format = \"pretty\" # default"
    );
    // What it prints is itself a valid config file.
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), &printed);
    let again = stdout(&run(quire()
        .args(["config", "print", "--config"])
        .arg(&file)));
    assert!(again.contains(&format!(
        "addr = \"127.0.0.1:8080\" # file {}",
        file.display()
    )));
}

#[test]
fn file_overrides_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "addr = \"127.0.0.1:9000\"\ndata-dir = \"/var/lib/quire\"\ndurability = \"relaxed\"\nmax_message_bytes = 1048576\n",
    );
    let printed = stdout(&run(quire()
        .args(["config", "print", "--config"])
        .arg(&file)));
    let from_file = format!("# file {}", file.display());
    assert_eq!(
        line(&printed, "addr"),
        format!("addr = \"127.0.0.1:9000\" {from_file}")
    );
    assert_eq!(
        line(&printed, "data_dir"),
        format!("data_dir = \"/var/lib/quire\" {from_file}")
    );
    assert_eq!(
        line(&printed, "durability"),
        format!("durability = \"relaxed\" {from_file}")
    );
    assert_eq!(
        line(&printed, "max_message_bytes"),
        format!("max_message_bytes = 1048576 {from_file}")
    );
    assert_eq!(
        line(&printed, "client_queue_frames"),
        "client_queue_frames = 1024 # default"
    );
}

#[test]
fn config_file_from_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "ping_interval_millis = 1234\n");
    let printed = stdout(&run(quire()
        .args(["config", "print"])
        .env("QUIRE_CONFIG", &file)));
    assert_eq!(
        line(&printed, "ping_interval_millis"),
        format!("ping_interval_millis = 1234 # file {}", file.display())
    );
}

#[test]
fn environment_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "addr = \"127.0.0.1:9000\"\n");
    let printed = stdout(&run(quire()
        .args(["config", "print", "--config"])
        .arg(&file)
        .env("QUIRE_ADDR", "127.0.0.1:9001")));
    assert_eq!(
        line(&printed, "addr"),
        "addr = \"127.0.0.1:9001\" # env QUIRE_ADDR"
    );
}

#[test]
fn flag_overrides_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "addr = \"127.0.0.1:9000\"\n");
    let printed = stdout(&run(quire()
        .args(["config", "print", "--addr", "127.0.0.1:9002", "--config"])
        .arg(&file)
        .env("QUIRE_ADDR", "127.0.0.1:9001")));
    assert_eq!(
        line(&printed, "addr"),
        "addr = \"127.0.0.1:9002\" # flag --addr"
    );
}

#[test]
fn unknown_key_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "adress = \"127.0.0.1:9000\"\n");
    for args in [&["config", "print"][..], &["serve"][..]] {
        let error = failure(&run(quire().args(args).arg("--config").arg(&file)));
        assert!(error.contains("`adress`"), "{error}");
        assert!(error.contains(&file.display().to_string()), "{error}");
    }
}

#[test]
fn webhook_urls_come_as_a_list_and_the_secret_is_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "webhook_url = [\"https://a.example/hook\", \"http://b.example:8080/x\"]\nwebhook_secret = \"hunter2\"\n",
    );
    let printed = stdout(&run(quire()
        .args(["config", "print", "--config"])
        .arg(&file)));
    let from_file = format!("# file {}", file.display());
    assert_eq!(
        line(&printed, "webhook_url"),
        format!("webhook_url = \"https://a.example/hook,http://b.example:8080/x\" {from_file}")
    );
    assert_eq!(
        line(&printed, "webhook_secret"),
        format!("webhook_secret = \"***\" {from_file}")
    );
    assert!(!printed.contains("hunter2"), "{printed}");
    let error = failure(&run(quire().args([
        "config",
        "print",
        "--webhook-url",
        "ftp://a.example/hook",
    ])));
    assert!(error.contains("--webhook-url"), "{error}");
    assert!(error.contains("http or https"), "{error}");
}

#[test]
fn bad_file_values_name_the_setting_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (text, setting) in [
        ("durability = \"maybe\"\n", "durability"),
        ("max_message_bytes = 0\n", "max_message_bytes"),
        ("max-message-bytes = 1023\n", "max_message_bytes"),
        ("client_queue_frames = 0\n", "client_queue_frames"),
        ("addr = 9000\n", "addr"),
        ("ping_interval_millis = \"often\"\n", "ping_interval_millis"),
        ("data_dir = [\"a\"]\n", "data_dir"),
        ("webhook_url = [\"gopher://a\"]\n", "webhook_url"),
        ("webhook_url = [[\"https://a\"]]\n", "webhook_url"),
    ] {
        let file = write_file(dir.path(), text);
        let error = failure(&run(quire()
            .args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&file)));
        assert!(error.contains(&format!("`{setting}`")), "{text}: {error}");
        assert!(
            error.contains(&file.display().to_string()),
            "{text}: {error}"
        );
    }
}

#[test]
fn bad_flag_and_environment_values_name_the_setting() {
    let error = failure(&run(quire().args(["config", "print", "--addr", "nonsense"])));
    assert!(error.contains("--addr"), "{error}");
    let error = failure(&run(quire()
        .args(["config", "print"])
        .env("QUIRE_MAX_MESSAGE_BYTES", "0")));
    assert!(error.contains("--max-message-bytes"), "{error}");
    let error = failure(&run(quire().args([
        "config",
        "print",
        "--client-queue-frames",
        "0",
    ])));
    assert!(error.contains("--client-queue-frames"), "{error}");
    let error = failure(&run(quire()
        .args(["config", "print", "--config"])
        .arg("/nonexistent/quire.toml")));
    assert!(error.contains("/nonexistent/quire.toml"), "{error}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = quire()
        .args(["serve", "--log-format", "json", "--addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start quire serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines_sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = None;
    while found.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        let object: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
        let message = object["fields"]["message"].as_str().unwrap_or_default();
        if message.contains("listening on http://127.0.0.1:") {
            assert_eq!(object["level"], "INFO", "{line}");
            found = Some(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = found.expect("a JSON line saying where the server listens");
    let pattern_start = line.find("listening on http://127.0.0.1:").unwrap();
    let port: String = line[pattern_start + "listening on http://127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(port.parse::<u16>().is_ok_and(|port| port > 0), "{line}");
}
