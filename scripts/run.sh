#!/usr/bin/env bash
# Builds and runs Quire with the web editor on an embedded sled store in ./quire-data, listening
# on http://127.0.0.1:8080 (override with QUIRE_ADDR / QUIRE_DATA_DIR or flags after the script,
# e.g. `scripts/run.sh --addr 0.0.0.0:9000`). Installs the web editor's npm packages when needed.
set -euo pipefail
cd "$(dirname "$0")/.."
client-web/build.sh
cargo build --locked --release --bin quire
exec ./target/release/quire serve "$@"
