#!/usr/bin/env bash
# bench/compare.sh: Quire side by side with @y/websocket-server, @hocuspocus/server and the null
# relay (issue #7), in one run on one machine, then docs/benchmarks.md from the results.
#
#   bench/compare.sh                      # everything: about 25 minutes on 2 cores
#   bench/compare.sh --quick              # tiny sizes: a smoke run of a few minutes
#   bench/compare.sh --only W2,W7 --targets quire,null-relay
#
# What it does, in order: installs the peers (`npm ci` in bench/peers), builds the quire binary,
# quire-bench and null-relay in release mode, then for every workload case and every target
# starts a fresh server pinned to core 0, runs quire-bench pinned to core 1 against it with
# --server-pid (RSS and CPU of the server), stops the server, and finally runs bench/report.py.
# Every run gets a fresh server process (and for Quire a fresh data directory), so memory
# figures and state never carry over between cases. A run that fails (server crash, non-zero
# exit, timeout) is recorded as a failed measurement and the script goes on.
#
# Results go to bench/results/<UTC timestamp>/ (gitignored): results.jsonl (one line per
# measurement, each tagged with the case), machine.json, logs/ (every server's and every
# bench run's output). Running it again makes a new results directory; nothing else is changed
# except docs/benchmarks.md (the section between the compare markers) and docs/benchmarks/*.svg.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ALL_WORKLOADS="W1,W2,W3,W4,W5,W6,W7"
ALL_TARGETS="quire,y-websocket-server,hocuspocus,null-relay,quire-hocuspocus"
# What a case's "all" means: every server, each over its own protocol. quire-hocuspocus (Quire
# over /hocuspocus) runs only where a case names it: W2, next to Quire over /ws, and the
# compressed W4 join.
EVERY_SERVER="quire,y-websocket-server,hocuspocus,null-relay"

usage() {
  cat <<EOF
usage: bench/compare.sh [--quick] [--only WORKLOADS] [--targets TARGETS] [--case ID]...
                        [--skip-build] [--results DIR] [--no-report]
  --quick            tiny sizes (passes --quick to quire-bench), for a smoke run
  --only LIST        workloads to run, comma-separated (default $ALL_WORKLOADS)
  --targets LIST     servers to run, comma-separated (default $ALL_TARGETS)
  --case ID          only the case with this id, e.g. "readers=1000 fixed" (repeatable); with
                     --results of an earlier run, re-runs a failed case (the report counts the
                     last run of a case)
  --skip-build       use the binaries already in target/release and the installed peers
  --results DIR      write results there (default bench/results/<UTC timestamp>)
  --no-report        do not regenerate docs/benchmarks.md
Environment: QUIRE_TRACES_DIR (default <workspace>/../shared/data/traces),
CARGO_TARGET_DIR (default <workspace>/target); QUIRE_BIN and QUIRE_BENCH_BIN (a quire or
quire-bench binary to use instead of the one built here, e.g. from another checkout) with
QUIRE_COMMIT (what to report as the quire binary's commit).
EOF
}

quick=0
only="$ALL_WORKLOADS"
targets="$ALL_TARGETS"
skip_build=0
results=""
report=1
only_cases=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --only) only="${2:?--only needs a list}"; shift ;;
    --targets) targets="${2:?--targets needs a list}"; shift ;;
    --case) only_cases+=("${2:?--case needs a case id}"); shift ;;
    --skip-build) skip_build=1 ;;
    --results) results="${2:?--results needs a directory}"; shift ;;
    --no-report) report=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
only="${only^^}"
for workload in ${only//,/ }; do
  [[ ",$ALL_WORKLOADS," == *",$workload,"* ]] || { echo "compare.sh: unknown workload $workload" >&2; exit 2; }
done
for target in ${targets//,/ }; do
  [[ ",$ALL_TARGETS," == *",$target,"* ]] || { echo "compare.sh: unknown target $target" >&2; exit 2; }
done

started_at=$SECONDS
say() { printf '[%02d:%02d] %s\n' $(((SECONDS - started_at) / 60)) $(((SECONDS - started_at) % 60)) "$*"; }
die() { echo "compare.sh: $*" >&2; exit 1; }

for tool in taskset node npm curl python3 cargo timeout; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
traces_dir="${QUIRE_TRACES_DIR:-$ROOT/../shared/data/traces}"
trace="$traces_dir/automerge-paper.json.gz"
[[ -f "$trace" ]] || die "trace $trace not found (set QUIRE_TRACES_DIR)"
trace="$(cd "$(dirname "$trace")" && pwd)/$(basename "$trace")"

# Server on core 0, load generator on core 1; on a single core both share it (and the report
# says the run was not pinned).
if [[ $(nproc) -ge 2 ]]; then
  server_cpu=(taskset -c 0)
  bench_cpu=(taskset -c 1)
  pinned=true
else
  server_cpu=()
  bench_cpu=()
  pinned=false
fi

# W7 holds 19,000 sockets on each side; take whatever the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
# Install and build.
peers="$ROOT/bench/peers"
if [[ $skip_build == 0 ]]; then
  say "installing peers (npm ci in bench/peers)"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  say "building quire, quire-bench and null-relay (cargo build --release)"
  (cd "$ROOT" && cargo build --release -p server -p quire-bench)
fi
[[ -d "$peers/node_modules/@y/websocket-server" && -d "$peers/node_modules/@hocuspocus/server" ]] ||
  die "peers are not installed: run without --skip-build (or npm ci in bench/peers)"
bin="${CARGO_TARGET_DIR:-$ROOT/target}/release"
quire="${QUIRE_BIN:-$bin/quire}"
quire_bench="${QUIRE_BENCH_BIN:-$bin/quire-bench}"
for binary in "$quire" "$quire_bench" "$bin/null-relay"; do
  [[ -x "$binary" ]] || die "$binary is missing: run without --skip-build"
done

results="${results:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$results/logs" "$results/runs"
results="$(cd "$results" && pwd)"
jsonl="$results/results.jsonl"
touch "$jsonl"

# ---------------------------------------------------------------------------------------------
# The machine and versions, for the report.
package_version() { node -p "require('$peers/node_modules/$1/package.json').version" 2>/dev/null || echo unknown; }
# Written once per results directory: a later run into the same directory (say, re-running a
# failed case with --only and --targets) adds to results.jsonl and keeps the first description.
machine_file="$results/machine.json"
[[ -e $machine_file ]] && machine_file="$results/machine.rerun-$(date -u +%H%M%S).json"
python3 - "$machine_file" <<EOF
import datetime, json, os, platform, shutil, subprocess, sys
def run(*command):
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
memory = 0
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal:"):
        memory = int(line.split()[1]) * 1024
git = run("git", "-C", "$ROOT", "rev-parse", "--short", "HEAD")
dirty = run("git", "-C", "$ROOT", "status", "--porcelain", "--untracked-files=no")
machine = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "cpu_model": cpu,
    "cores": os.cpu_count(),
    "kernel": " ".join(platform.uname()[i] for i in (0, 2, 4)),
    "memory_bytes": memory,
    "virtualization": run("systemd-detect-virt") if shutil.which("systemd-detect-virt") else "unknown",
    "load_average_at_start": open("/proc/loadavg").read().split()[:3],
    "pinned": json.loads("$pinned"),
    "quick": bool($quick),
    "rustc": run("rustc", "--version"),
    "node": run("node", "--version"),
    "quire_commit": os.environ.get("QUIRE_COMMIT") or (git + (" (with uncommitted changes)" if dirty not in ("", "unknown") else "")),
    "quire_version": run("$quire", "--version"),
    "quire_binary": "$quire",
    "quire_bench_binary": "$quire_bench",
    "peers": {
        "@y/websocket-server": "$(package_version @y/websocket-server)",
        "@hocuspocus/server": "$(package_version @hocuspocus/server)",
        "yjs": "$(package_version yjs)",
        "ws (y-websocket-server's)": "$(node -p "require('$peers/node_modules/@y/websocket-server/node_modules/ws/package.json').version" 2>/dev/null || package_version ws)",
        "ws (hocuspocus's)": "$(package_version ws)",
    },
    "trace": "$trace",
    "open_files_limit": int("$(ulimit -n)"),
    "targets": "$targets".split(","),
    "workloads": "$only".split(","),
}
json.dump(machine, open(sys.argv[1], "w"), indent=2)
EOF

# ---------------------------------------------------------------------------------------------
# Servers. Each start gets a new port (no waiting for the old one to be released), a log file,
# and for Quire a fresh data directory. Ports start at 21000, below Linux's ephemeral range
# (32768-60999 by default), where the load generator's own client sockets would collide.
next_port=21000
server_pid=""
server_data=""

# Sets server_pid, server_url, room_prefix, protocol, metrics_url for target $1; run name $2.
# A port may still be taken by something else: a server that exits at once is retried on the
# next port, three times.
start_server() {
  local attempt
  for attempt in 1 2 3; do
    start_server_once "$@" && return 0
    stop_server
  done
  return 1
}

start_server_once() {
  local target=$1 run_name=$2 log
  local port=$next_port
  next_port=$((next_port + 1))
  log="$results/logs/$run_name.server.log"
  server_url="ws://127.0.0.1:$port"
  room_prefix="/"
  protocol="y-websocket"
  metrics_url=""
  case "$target" in
    quire | quire-hocuspocus)
      server_data="$(mktemp -d "${TMPDIR:-/tmp}/quire-compare.XXXXXX")"
      room_prefix="/ws/"
      if [[ $target == quire-hocuspocus ]]; then
        room_prefix="/hocuspocus"
        protocol="hocuspocus"
      fi
      metrics_url="http://127.0.0.1:$port/metrics"
      # Durability stays strict (the default); only the per-client and per-address abuse
      # limits are raised, since the load generator is one fast client on one address.
      RUST_LOG=warn "${server_cpu[@]}" "$quire" serve --addr "127.0.0.1:$port" \
        --data-dir "$server_data" --durability strict \
        --max-messages-per-second 1000000 --max-bytes-per-second 100000000000 \
        --max-connections-per-ip 1000000 \
        --max-connections 1000000 >"$log" 2>&1 &
      ;;
    y-websocket-server)
      "${server_cpu[@]}" node "$peers/y-websocket-server.mjs" "$port" >"$log" 2>&1 &
      ;;
    hocuspocus)
      protocol="hocuspocus"
      "${server_cpu[@]}" node "$peers/hocuspocus-server.mjs" "$port" >"$log" 2>&1 &
      ;;
    null-relay)
      "${server_cpu[@]}" "$bin/null-relay" --listen "127.0.0.1:$port" >"$log" 2>&1 &
      ;;
  esac
  server_pid=$!
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      return 1
    fi
    if [[ $target == quire* ]]; then
      curl -fs --max-time 2 -o /dev/null "http://127.0.0.1:$port/readyz" && listening_on "$port" && return 0
    elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && listening_on "$port"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# Whether the server we started (not some other process) listens on port $1.
listening_on() {
  if command -v ss >/dev/null; then
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -q "pid=$server_pid,"
  else
    sleep 0.5
    kill -0 "$server_pid" 2>/dev/null
  fi
}

# Stops the running server: SIGTERM, then SIGKILL after 15 s.
stop_server() {
  [[ -n "$server_pid" ]] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while kill -0 "$server_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [[ -n "$server_data" ]]; then
    rm -rf "$server_data"
    server_data=""
  fi
}
trap 'stop_server' EXIT
trap 'stop_server; exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Cases: "WORKLOAD|CASE ID|TARGETS|SECONDS LIMIT|quire-bench subcommand and arguments".
# TARGETS is "all" or a comma list; the case id names the parameters (the report keys on it).
# The null relay keeps no document, so a join storm against it would sync 5,000 empty
# documents: W4 runs against the servers that hold the document.
STATEFUL="quire,y-websocket-server,hocuspocus"
cases=()
add_case() { cases+=("$1|$2|$3|$4|$5"); }

if [[ $quick == 1 ]]; then
  add_case W1 "replay" all 120 "replay --trace $trace --quick"
  add_case W2 "readers=10 saturate" all 60 "hot-room --readers 10 --mode saturate --seconds 2 --quick"
  add_case W2 "readers=10 fixed" "$EVERY_SERVER,quire-hocuspocus" 60 "hot-room --readers 10 --mode fixed --rate 2000 --seconds 2 --quick"
  add_case W2 "readers=10 search" all 120 "hot-room --readers 10 --mode search --rate 2000 --p99-limit-ms 50 --seconds 1 --quick"
  add_case W3 "rooms=20" all 60 "many-rooms --rooms 20 --clients-per-room 3 --rate-per-room 5 --seconds 2 --quick"
  add_case W4 "clients=50" "$STATEFUL" 60 "join-storm --clients 50 --trace $trace --quick"
  add_case W4 "clients=50 compressed" "$STATEFUL,quire-hocuspocus" 60 "join-storm --clients 50 --trace $trace --quick --compression"
  add_case W5 "clients=10" all 60 "awareness --clients 10 --hz 10 --seconds 2 --quick"
  add_case W6 "documents=10" quire 120 "cold-load --documents 10 --trace $trace --quick"
  add_case W7 "clients=200 own" all 60 "idle --clients 200 --rooms own --quick"
  add_case W7 "clients=200 shared" all 60 "idle --clients 200 --rooms shared --quick"
else
  # Sizes and durations keep the whole run near 25 minutes on 2 cores; W1 and W4 each spend
  # about 20 s per run preparing the trace's updates before measuring.
  add_case W1 "replay" all 300 "replay --trace $trace"
  for readers in 10 100 1000; do
    # 20,000 deliveries/s in all: readers x updates/s.
    add_case W2 "readers=$readers saturate" "$EVERY_SERVER,quire-hocuspocus" 90 "hot-room --readers $readers --mode saturate --seconds 4"
    add_case W2 "readers=$readers fixed" "$EVERY_SERVER,quire-hocuspocus" 90 "hot-room --readers $readers --mode fixed --rate $((20000 / readers)) --seconds 5"
    # Search from 20,000 deliveries/s: doubling, then bisecting (quire-bench), 1.5 s per step.
    add_case W2 "readers=$readers search" all 240 "hot-room --readers $readers --mode search --rate $((20000 / readers)) --p99-limit-ms 50 --seconds 1.5"
  done
  for rooms in 100 500 1000 2000 5000; do
    add_case W3 "rooms=$rooms" all 180 "many-rooms --rooms $rooms --clients-per-room 3 --rate-per-room 5 --seconds 5"
  done
  # One noisy room beside 300 quiet ones (#20): a fresh 1 MB text 50 times a second. The p99
  # is the quiet rooms'; compare it with the same 300 rooms alone.
  add_case W3 "rooms=300 alone" all 120 "many-rooms --rooms 300 --clients-per-room 3 --rate-per-room 5 --seconds 10"
  add_case W3 "rooms=300 flood" all 120 "many-rooms --rooms 300 --clients-per-room 3 --rate-per-room 5 --seconds 10 --flood-bytes 1000000 --flood-rate 50"
  # Many quiet documents: 30,000 sockets on each side, so it needs an open-files limit above
  # that (it fails to connect everyone where the hard limit is 20,000, and says so).
  add_case W3 "rooms=10000 rate=1" all 240 "many-rooms --rooms 10000 --clients-per-room 3 --rate-per-room 1 --seconds 10"
  # What this sandbox can hold of it: 6,000 rooms, 18,000 sockets.
  add_case W3 "rooms=6000 rate=1" all 240 "many-rooms --rooms 6000 --clients-per-room 3 --rate-per-room 1 --seconds 10"
  for clients in 1000 5000; do
    add_case W4 "clients=$clients" "$STATEFUL" 180 "join-storm --clients $clients --trace $trace"
  done
  # Joiners offering permessage-deflate, as browsers do: the bytes on the wire
  # (wire_bytes_per_client) against the uncompressed join above. A server that declines the
  # offer sends the same bytes as above.
  add_case W4 "clients=1000 compressed" "$STATEFUL,quire-hocuspocus" 180 "join-storm --clients 1000 --trace $trace --compression"
  for clients in 50 100 200; do
    add_case W5 "clients=$clients" all 90 "awareness --clients $clients --hz 10 --seconds 5"
  done
  add_case W6 "documents=1000" quire 600 "cold-load --documents 1000 --trace $trace"
  add_case W7 "clients=19000 own" all 300 "idle --clients 19000 --rooms own --settle-seconds 5"
  add_case W7 "clients=19000 shared" all 300 "idle --clients 19000 --rooms shared --settle-seconds 5"
fi

# The cases and targets selected, in run order: by workload, then case, then target.
planned=()
for entry in "${cases[@]}"; do
  IFS='|' read -r workload case_id case_targets limit command <<<"$entry"
  [[ ",$only," == *",$workload,"* ]] || continue
  if [[ ${#only_cases[@]} -gt 0 ]]; then
    wanted=0
    for only_case in "${only_cases[@]}"; do
      [[ $case_id == "$only_case" ]] && wanted=1
    done
    [[ $wanted == 1 ]] || continue
  fi
  for target in ${targets//,/ }; do
    [[ $case_targets == all ]] && case_targets="$EVERY_SERVER"
    if [[ ",$case_targets," != *",$target,"* ]]; then
      continue
    fi
    planned+=("$workload|$case_id|$target|$limit|$command")
  done
done
say "results: $results"
say "${#planned[@]} runs planned ($(tr ',' ' ' <<<"$targets"); workloads $only)"

# Appends one run's measurements (or a failure record) to results.jsonl, tagged with the case.
record_run() {
  local run_file=$1 workload=$2 case_id=$3 target=$4 run_name=$5 failure=$6
  python3 - "$run_file" "$jsonl" "$workload" "$case_id" "$target" "$run_name" "$failure" "$protocol" <<'EOF'
import json, sys
run_file, jsonl, workload, case_id, target, run_name, failure, protocol = sys.argv[1:]
lines = []
try:
    with open(run_file) as f:
        lines = [json.loads(line) for line in f if line.strip()]
except FileNotFoundError:
    pass
if failure and not lines:
    lines = [{
        "workload": workload, "name": None, "label": target, "protocol": protocol,
        "params": {}, "valid": False, "problems": [], "metrics": {},
        "latency_ms": None, "server": None,
    }]
with open(jsonl, "a") as out:
    for line in lines:
        line["case"] = case_id
        line["target"] = target
        line["run"] = run_name
        if failure:
            line["failed"] = True
            line["valid"] = False
            line.setdefault("problems", []).append(failure)
        out.write(json.dumps(line) + "\n")
EOF
}

# Run names continue from earlier runs into the same directory, so logs never overwrite.
last_run=$(find "$results/logs" -name '[0-9]*.log' -printf '%f\n' | cut -c1-3 | sort -n | tail -n 1)
run_number=$((10#${last_run:-0}))
run_first=$run_number
failures=0
for entry in "${planned[@]}"; do
  IFS='|' read -r workload case_id target limit command <<<"$entry"
  run_number=$((run_number + 1))
  run_name="$(printf '%03d' "$run_number")-$target-$workload-${case_id// /-}"
  run_name="${run_name//=/}"
  say "($((run_number - run_first))/${#planned[@]}) $target $workload $case_id"
  run_file="$results/runs/$run_name.jsonl"
  log="$results/logs/$run_name.bench.log"
  failure=""
  protocol="y-websocket"
  if ! start_server "$target" "$run_name"; then
    failure="server did not start (see logs/$run_name.server.log)"
  else
    read -r -a subcommand <<<"$command"
    global=(--url "$server_url" --room-path-prefix "$room_prefix" --protocol "$protocol"
      --label "$target" --server-pid "$server_pid" --json "$run_file")
    if [[ $workload == W6 ]]; then
      subcommand+=(--metrics-url "$metrics_url")
    fi
    if [[ $workload == W7 || $workload == W3 ]]; then
      # Several source addresses, so 15,000 to 30,000 clients never run out of ephemeral ports.
      subcommand+=(--source-addresses 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5)
    fi
    set +e
    timeout --kill-after=10 "$limit" "${bench_cpu[@]}" "$quire_bench" "${global[@]}" \
      "${subcommand[@]}" >"$log" 2>&1
    status=$?
    set -e
    if ! kill -0 "$server_pid" 2>/dev/null; then
      failure="the server exited during the run (see logs/$run_name.server.log)"
    elif [[ $status == 124 || $status == 137 ]]; then
      failure="timed out after ${limit}s (see logs/$run_name.bench.log)"
    elif [[ $status != 0 ]]; then
      # The error's own lines, not the backtrace anyhow adds when RUST_BACKTRACE is set.
      failure="quire-bench exited with $status: $(sed '/^Stack backtrace:/,$d' "$log" | grep -v '^$' | tail -n 3 | tr '\n' ' ' | cut -c1-300)"
    elif [[ ! -s $run_file ]]; then
      failure="quire-bench wrote no measurement (see logs/$run_name.bench.log)"
    fi
  fi
  stop_server
  record_run "$run_file" "$workload" "$case_id" "$target" "$run_name" "$failure"
  if [[ -n $failure ]]; then
    failures=$((failures + 1))
    say "  FAILED: $failure"
  else
    grep -v '^\s*$' "$log" | grep -E '^W[0-9]' | sed 's/^/  /' | cut -c1-240 || true
  fi
done

say "done: ${#planned[@]} runs, $failures failed; results in $results"
python3 - "$machine_file" <<'PYTHON'
import json, sys
machine = json.load(open(sys.argv[1]))
machine["load_average_at_end"] = open("/proc/loadavg").read().split()[:3]
json.dump(machine, open(sys.argv[1], "w"), indent=2)
PYTHON
if [[ $report == 1 ]]; then
  python3 "$ROOT/bench/report.py" "$results" --doc "$ROOT/docs/benchmarks.md" \
    --plots "$ROOT/docs/benchmarks"
  say "wrote docs/benchmarks.md and docs/benchmarks/*.svg"
fi
