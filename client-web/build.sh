#!/usr/bin/env bash
# Builds the web editor into client-web/dist, which the quire binary embeds. Safe to run again:
# installs the npm packages only when package-lock.json changed, and rebuilds only when a source
# is newer than the last build (a rebuild makes cargo re-embed dist and recompile the server, so
# skipping an unneeded one saves a release compile). `--force` always rebuilds.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
sources=(src index.html package-lock.json vite.config.ts tsconfig.json)
if [ "${1:-}" = --force ] || [ ! -f dist/index.html ] ||
  [ -n "$(find "${sources[@]}" -newer dist/index.html -print -quit)" ]; then
  npm run build
else
  echo "client-web: dist is up to date"
fi
