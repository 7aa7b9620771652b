//! `quire docs` end to end: the real binary on a real data directory.
//!
//! Each test fills a fresh data directory through `storage::SledStore` with genuine Yjs updates
//! made by yrs (as a server would have stored them), closes the store, and runs the binary on
//! it. The results are checked with yrs and the store again, never by trusting the CLI's own
//! output, and holding a store open in the test stands in for a running server.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storage::{DocStore, SledStore};
use yrs::updates::decoder::Decode;
use yrs::{
    Doc, GetString, Map, ReadTxn, Text, Transact, Update, WriteTxn, XmlElementPrelim, XmlFragment,
    XmlTextPrelim,
};

const QUIRE: &str = env!("CARGO_BIN_EXE_quire");

/// Longer than the store's two-second lock grace, far shorter than a hang.
const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

/// A directory removed when the test ends (the server package has no tempfile dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "quire-cli-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temporary directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A data directory holding "notes" (a text edited in two updates) and "settings" (a map).
fn populated_data_dir() -> TempDir {
    let directory = TempDir::new("data");
    let store = SledStore::open(directory.path()).expect("open store");

    let notes = Doc::new();
    let content = notes.get_or_insert_text("content");
    for (index, chunk) in [(0, "hello"), (5, " world")] {
        let mut transaction = notes.transact_mut();
        content.insert(&mut transaction, index, chunk);
        store
            .append("notes", &transaction.encode_update_v1())
            .expect("append");
    }

    let settings = Doc::new();
    let map = settings.get_or_insert_map("settings");
    let mut transaction = settings.transact_mut();
    map.insert(&mut transaction, "theme", "dark");
    map.insert(&mut transaction, "width", 80);
    store
        .append("settings", &transaction.encode_update_v1())
        .expect("append");

    store.flush().expect("flush");
    directory
}

fn quire(arguments: &[&str]) -> Command {
    let mut command = Command::new(QUIRE);
    command
        .args(arguments)
        .env_remove("QUIRE_DATA_DIR")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child`, killing it (and failing the test) if it outlives [`COMMAND_DEADLINE`].
fn finish(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("poll child").is_none() {
        if started.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            panic!("quire did not finish within {COMMAND_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

/// Runs `quire docs <arguments> --data-dir <data_dir>`.
fn docs(data_dir: &Path, arguments: &[&str]) -> Output {
    let mut command = quire(&["docs"]);
    command.args(arguments).arg("--data-dir").arg(data_dir);
    finish(command.spawn().expect("spawn quire"))
}

fn succeeded(output: Output) -> Output {
    assert!(
        output.status.success(),
        "quire failed: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn failed_with(output: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "quire succeeded; stderr: {stderr}"
    );
    assert!(
        stderr.contains(message),
        "stderr lacks {message:?}: {stderr}"
    );
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn text_of_update(update: Update) -> String {
    let doc = Doc::new();
    doc.transact_mut().apply_update(update).expect("apply");
    let content = doc.get_or_insert_text("content");
    content.get_string(&doc.transact())
}

#[test]
fn list_shows_every_document_as_a_table_and_as_json() {
    let data = populated_data_dir();

    let table = stdout(&succeeded(docs(data.path(), &["list"])));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("LOG RECORDS"));
    assert!(lines[1].starts_with("notes ") && lines[2].starts_with("settings "));
    let notes_columns: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        notes_columns[1], "text",
        "documents made by edits are text: {table}"
    );
    assert_eq!(notes_columns[3], "2", "two logged updates: {table}");

    let listed: Value =
        serde_json::from_str(&stdout(&succeeded(docs(data.path(), &["list", "--json"]))))
            .expect("list --json prints JSON");
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], "notes");
    assert_eq!(listed[0]["log_records"], 2);
    assert_eq!(listed[0]["kind"], "text");
    assert_eq!(listed[0]["last_seq"], 2);
    assert!(listed[0]["bytes"].as_u64().unwrap() > 0);
    assert!(listed[0]["updated_at"].as_str().unwrap().ends_with('Z'));
    assert!(listed[0]["updated_at_unix_ms"].as_u64().unwrap() > 0);
    assert_eq!(listed[1]["id"], "settings");
}

#[test]
fn data_dir_comes_from_the_environment_too() {
    let data = populated_data_dir();
    let mut command = quire(&["docs", "list", "--json"]);
    command.env("QUIRE_DATA_DIR", data.path());
    let output = succeeded(finish(command.spawn().expect("spawn quire")));
    let listed: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
}

#[test]
fn export_round_trips_as_text_json_and_updates() {
    let data = populated_data_dir();
    let path = data.path();

    let text = succeeded(docs(path, &["export", "notes", "--format", "text"]));
    assert_eq!(stdout(&text), "hello world");

    let whole = succeeded(docs(path, &["export", "notes", "--format", "json"]));
    let whole: Value = serde_json::from_str(&stdout(&whole)).expect("JSON");
    assert_eq!(whole, json!({ "content": "hello world" }));

    let settings = succeeded(docs(
        path,
        &[
            "export", "settings", "--format", "json", "--name", "settings",
        ],
    ));
    let settings: Value = serde_json::from_str(&stdout(&settings)).expect("JSON");
    assert_eq!(settings, json!({ "theme": "dark", "width": 80 }));

    let update = succeeded(docs(path, &["export", "notes", "--format", "update"]));
    let update = Update::decode_v1(&update.stdout).expect("a v1 update");
    assert_eq!(text_of_update(update), "hello world");

    let output_dir = TempDir::new("export");
    let file = output_dir.path().join("notes.ydoc2");
    let file_argument = file.to_str().expect("utf-8 path");
    let written = succeeded(docs(
        path,
        &[
            "export",
            "notes",
            "--format",
            "update-v2",
            "--output",
            file_argument,
        ],
    ));
    assert!(written.stdout.is_empty(), "--output leaves stdout empty");
    let update = Update::decode_v2(&fs::read(&file).expect("file written")).expect("a v2 update");
    assert_eq!(text_of_update(update), "hello world");
}

#[test]
fn export_refuses_what_it_cannot_do_clearly() {
    let data = populated_data_dir();
    let path = data.path();
    failed_with(
        &docs(path, &["export", "missing", "--format", "text"]),
        "no document \"missing\"",
    );
    failed_with(
        &docs(path, &["export", "settings", "--format", "text"]),
        "holds no root text",
    );
    failed_with(
        &docs(
            path,
            &["export", "notes", "--format", "json", "--name", "nope"],
        ),
        "no root named \"nope\"",
    );
    failed_with(
        &docs(
            path,
            &["export", "notes", "--format", "update", "--name", "content"],
        ),
        "--name applies to the text, json, html, markdown and prosemirror-json formats",
    );
    failed_with(
        &docs(path, &["export", "notes", "--format", "yaml"]),
        "possible values: update, update-v2, json, text, html, markdown, prosemirror-json",
    );
    let missing = data.path().join("absent");
    failed_with(&docs(&missing, &["list"]), "does not exist");
    assert!(!missing.exists(), "a missing data directory is not created");
}

#[test]
fn compact_merges_the_log_into_a_snapshot_without_changing_content() {
    let data = populated_data_dir();
    let path = data.path();

    let report = stdout(&succeeded(docs(path, &["compact"])));
    assert!(report.contains("notes: merged"), "{report}");
    assert!(report.contains("compacted 2 of 2 documents"), "{report}");

    {
        let store = SledStore::open(path).expect("reopen store");
        let notes = store.metadata("notes").expect("metadata").expect("notes");
        assert_eq!(notes.log_records, 0);
        assert_eq!(notes.log_bytes, 0);
        assert_eq!(notes.last_seq.0, 2, "seqs are never reused");
        let loaded = store.load("notes").expect("load");
        assert!(loaded.updates.is_empty());
        let snapshot = loaded.snapshot.expect("a snapshot");
        let update = Update::decode_v1(&snapshot).expect("snapshot is a v1 update");
        assert_eq!(text_of_update(update), "hello world");
        let settings = store.load("settings").expect("load");
        let doc = Doc::new();
        doc.transact_mut()
            .apply_update(Update::decode_v1(&settings.snapshot.expect("snapshot")).unwrap())
            .unwrap();
        let transaction = doc.transact();
        let map = transaction.get_map("settings").expect("settings map");
        assert_eq!(
            map.get(&transaction, "theme")
                .unwrap()
                .to_string(&transaction),
            "dark"
        );
    }

    let again = stdout(&succeeded(docs(path, &["compact", "notes"])));
    assert!(again.contains("notes: already one snapshot"), "{again}");
    assert!(again.contains("compacted 0 of 1 documents"), "{again}");
    let text = succeeded(docs(path, &["export", "notes", "--format", "text"]));
    assert_eq!(stdout(&text), "hello world");

    failed_with(
        &docs(path, &["compact", "missing"]),
        "no document \"missing\"",
    );
}

#[test]
fn every_command_fails_promptly_while_another_process_holds_the_data_dir() {
    let data = populated_data_dir();
    let _server_stand_in = SledStore::open(data.path()).expect("hold the data directory");
    let commands: [&[&str]; 5] = [
        &["list"],
        &["list", "--json"],
        &["export", "notes", "--format", "text"],
        &["compact"],
        &["compact", "notes"],
    ];
    // Started together: each waits out the store's short lock grace before giving up.
    let started = Instant::now();
    let children: Vec<Child> = commands
        .iter()
        .map(|arguments| {
            let mut command = quire(&["docs"]);
            command.args(*arguments).arg("--data-dir").arg(data.path());
            command.spawn().expect("spawn quire")
        })
        .collect();
    for child in children {
        let output = finish(child);
        failed_with(&output, "is in use by another process");
        failed_with(&output, &data.path().display().to_string());
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn serving_stays_the_default_and_keeps_its_flags() {
    for arguments in [&["--help"][..], &["serve", "--help"][..]] {
        let output = succeeded(finish(quire(arguments).spawn().expect("spawn quire")));
        let help = stdout(&output);
        assert!(
            help.contains("--addr") && help.contains("--data-dir"),
            "{help}"
        );
    }
    let output = succeeded(finish(quire(&["--help"]).spawn().expect("spawn quire")));
    assert!(stdout(&output).contains("docs"));
}

/// `docs export` follows the document's kind: a rich document renders as HTML, a text one is
/// refused HTML with the kinds that have it, and `docs list` shows both kinds.
#[test]
fn export_follows_the_documents_kind() {
    let data = populated_data_dir();
    {
        let store = SledStore::open(data.path()).expect("open store");
        assert!(
            store
                .create("article", storage::DocumentKind::Rich)
                .expect("create")
        );
        let article = Doc::new();
        let mut transaction = article.transact_mut();
        let fragment = transaction.get_or_insert_xml_fragment("default");
        let heading = fragment.push_back(&mut transaction, XmlElementPrelim::empty("heading"));
        heading.push_back(&mut transaction, XmlTextPrelim::new("Plan"));
        store
            .append("article", &transaction.encode_update_v1())
            .expect("append");
        store.flush().expect("flush");
    }
    let html = succeeded(docs(
        data.path(),
        &["export", "article", "--format", "html"],
    ));
    assert_eq!(stdout(&html), "<h1>Plan</h1>");
    failed_with(
        &docs(data.path(), &["export", "notes", "--format", "html"]),
        "format html is for rich documents; this document is text",
    );
    let table = stdout(&succeeded(docs(data.path(), &["list"])));
    assert!(
        table
            .lines()
            .any(|line| line.split_whitespace().take(2).eq(["article", "rich"])),
        "{table}"
    );
}
