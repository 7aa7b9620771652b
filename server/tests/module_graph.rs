//! The room engine's files import each other without a circle.
//!
//! Reads every `use` of `server/src/room/` and builds the graph of which module of the engine
//! names which (`super::x`, `crate::room::x`, and `super::super::x` from a module's own
//! submodules, which count as the module); a cycle in it fails the test and is printed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> the engine modules it imports.
fn room_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/room");
    let mut graph = BTreeMap::new();
    let mut files = Vec::new();
    collect_files(&root, &mut files);
    for file in files {
        let relative = file.strip_prefix(&root).expect("under src/room");
        let mut parts: Vec<String> = relative
            .with_extension("")
            .iter()
            .map(|part| part.to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|last| last == "mod") {
            parts.pop();
        }
        // A submodule (owner/commands.rs) is part of its module (owner).
        let Some(module) = parts.first().cloned() else {
            continue;
        };
        let depth = parts.len();
        let source = std::fs::read_to_string(&file).expect("readable source");
        let imports: &mut BTreeSet<String> = graph.entry(module.clone()).or_default();
        for line in source.lines().map(str::trim) {
            let Some(path) = line.strip_prefix("use ") else {
                continue;
            };
            let target = if let Some(rest) = path.strip_prefix("crate::room::") {
                Some(rest)
            } else {
                // `super::` climbs one level per use: from depth d, d supers reach the engine.
                let mut rest = path;
                let mut climbed = 0;
                while let Some(next) = rest.strip_prefix("super::") {
                    rest = next;
                    climbed += 1;
                }
                (climbed == depth).then_some(rest)
            };
            if let Some(target) = target {
                let name: String = target
                    .chars()
                    .take_while(|character| character.is_alphanumeric() || *character == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    imports.insert(name);
                }
            }
        }
    }
    graph
}

fn collect_files(directory: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("a readable directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// A cycle through `start`, if any, as the modules along it.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in graph
        .get(path.last().expect("a path"))
        .into_iter()
        .flatten()
    {
        if next == start {
            let mut cycle = path.clone();
            cycle.push(next.clone());
            return Some(cycle);
        }
        if !path.contains(next) {
            path.push(next.clone());
            if let Some(cycle) = cycle_from(graph, start, path) {
                return Some(cycle);
            }
            path.pop();
        }
    }
    None
}

/// No module of the room engine imports, directly or not, a module that imports it.
#[test]
fn the_room_engine_has_no_import_cycle() {
    let graph = room_graph();
    assert!(
        graph.contains_key("owner") && graph.contains_key("task"),
        "{graph:?}"
    );
    for module in graph.keys() {
        let cycle = cycle_from(&graph, module, &mut vec![module.clone()]);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap().join(" -> ")
        );
    }
}
