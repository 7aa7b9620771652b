#!/usr/bin/env bash
# Runs every coverage-guided fuzz target in fuzz/ for a bounded time, for CI (docs/fuzzing.md).
# Installs cargo-fuzz when missing, builds every target once on stable Rust without a sanitizer
# (-s none), then fuzzes each one for QUIRE_FUZZ_SECONDS seconds (default 30), starting from its
# corpus in fuzz/corpus/<target> (kept between runs), the committed seeds in fuzz/seeds/<target>
# and every input that once crashed it, in fuzz/regressions/<target>. Exits non-zero if any target crashed, naming the saved input and the
# command that reproduces it.
#
# Environment:
#   QUIRE_FUZZ_SECONDS              seconds per target (default 30)
#   QUIRE_FUZZ_ALLOCATION_LIMIT_MB  MiB one allocation, or all live ones, may take before the
#                                   target aborts; also libFuzzer's -rss_limit_mb (default 256)
#   QUIRE_FUZZ_RELEASE=1            build as the server ships (-O: no debug assertions or
#                                   overflow checks); by default both are on, to catch more
#
# Safe to run again: the install is skipped when cargo-fuzz is there, the build is incremental,
# and each run adds to the corpus of the last.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${QUIRE_FUZZ_SECONDS:-30}"
export QUIRE_FUZZ_ALLOCATION_LIMIT_MB="${QUIRE_FUZZ_ALLOCATION_LIMIT_MB:-256}"
limit_mb="$QUIRE_FUZZ_ALLOCATION_LIMIT_MB"
build_flags=(-s none)
if [ "${QUIRE_FUZZ_RELEASE:-0}" = 1 ]; then
  build_flags+=(-O)
fi

echo "== cargo-fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

# cargo-fuzz has no --locked: make cargo refuse a stale fuzz/Cargo.lock before it would rewrite it.
cargo metadata --locked --format-version 1 >/dev/null

echo "== building the fuzz targets (${build_flags[*]})"
build_started=$SECONDS
cargo fuzz build "${build_flags[@]}"
echo "built in $((SECONDS - build_started)) s"

failed=()
for target in $(cargo fuzz list); do
  echo "== $target: ${seconds} s"
  mkdir -p "corpus/$target" "artifacts/$target"
  corpora=("corpus/$target")
  # Seeds are real encodings; regressions are inputs that once crashed a target, replayed first.
  for extra in "seeds/$target" "regressions/$target"; do
    if [ -d "$extra" ]; then
      corpora+=("$extra")
    fi
  done
  # Artifacts older than this marker belong to earlier runs.
  marker="$(mktemp)"
  # -malloc_limit_mb only works with a sanitizer's malloc hooks; without one the targets'
  # counting allocator (fuzz/fuzz_targets/shared/allocation_limit.rs) enforces the same limit.
  if ! cargo fuzz run "${build_flags[@]}" "$target" "${corpora[@]}" -- \
    -max_total_time="$seconds" \
    -rss_limit_mb="$limit_mb" \
    -malloc_limit_mb="$limit_mb" \
    -max_len=4096 \
    -timeout=30 \
    -print_final_stats=1; then
    failed+=("$target")
    for artifact in $(find "artifacts/$target" -type f -newer "$marker"); do
      # The first 64 bytes, in hex: enough to recognise a known input in a CI log.
      preview="$(od -An -tx1 -v -N 64 "$artifact" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')"
      echo "!! $target crashed on fuzz/$artifact ($(wc -c <"$artifact") bytes: $preview)"
      echo "!! reproduce: cd fuzz && cargo fuzz run ${build_flags[*]} $target $artifact"
    done
  fi
  rm -f "$marker"
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "== fuzzing found crashes in: ${failed[*]}"
  exit 1
fi
echo "== every fuzz target ran ${seconds} s without a crash"
