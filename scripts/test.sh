#!/usr/bin/env bash
# Runs every Quire test on a fresh machine: installs what the tests need (npm packages for the
# interop tests), builds the `quire` binary, then runs the Rust tests (unit, property,
# end-to-end over real sockets) and the interop tests against the real npm Yjs clients.
# Safe to run again: every install step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)

echo "== building quire"
cargo build --locked --bin quire

echo "== Rust tests"
cargo test --locked --workspace --all-targets

echo "== interop tests (npm yjs + y-websocket against the quire binary)"
(cd tests/js && npm test)
