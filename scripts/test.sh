#!/usr/bin/env bash
# Runs every Quire test on a fresh machine: installs what the tests need (npm packages for the
# interop, web and browser tests; Debian's Chromium, PostgreSQL and Redis), builds the web editor
# and the `quire` binary (debug and release), then runs the Rust tests (unit, property,
# end-to-end over real sockets), the fuzz targets for a bounded time (installing cargo-fuzz), the
# interop tests against the real npm Yjs clients (including the power-cut test, which builds its
# fault-injecting library with gcc, and a mutation fuzz over real sockets), the web editor's unit
# tests and the browser tests. Safe to run again: every install step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies"
# Debian's packages the tests start for real: Chromium for the browser tests, PostgreSQL (its
# binaries only; each test run makes its own cluster with initdb) and redis-server for the
# multi-node tests. Installed only when missing.
missing_packages=()
command -v chromium >/dev/null || missing_packages+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing_packages+=(postgresql)
command -v redis-server >/dev/null || missing_packages+=(redis-server)
if [ "${#missing_packages[@]}" -gt 0 ]; then
  sudo_if_needed=""
  [ "$(id -u)" -eq 0 ] || sudo_if_needed="sudo"
  $sudo_if_needed apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y "${missing_packages[@]}"
fi
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

echo "== building the web editor"
client-web/build.sh

echo "== building quire"
cargo build --locked --bin quire
# tests/js/hostile-frames.test.mjs fuzzes the release build, the one that ships.
cargo build --locked --release --bin quire

echo "== Rust tests"
cargo test --locked --workspace --all-targets

# Coverage-guided fuzzing of every untrusted-input decoder for a bounded time, replaying every
# input that ever crashed one first (docs/fuzzing.md). Installs cargo-fuzz when missing. Built as
# the server ships (-O): yrs has debug-only overflow assertions on input still open there.
echo "== fuzz targets (${QUIRE_FUZZ_SECONDS:-20} s each)"
QUIRE_FUZZ_SECONDS="${QUIRE_FUZZ_SECONDS:-20}" QUIRE_FUZZ_RELEASE="${QUIRE_FUZZ_RELEASE:-1}" \
  bash scripts/fuzz.sh

echo "== interop tests (npm yjs + y-websocket against the quire binary)"
(cd tests/js && npm test)

echo "== web editor unit tests"
(cd client-web && npm test)

echo "== browser tests (Debian's Chromium against the quire binary)"
(cd tests/browser && npm test)
