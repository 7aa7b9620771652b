#!/usr/bin/env bash
# W2 and W3 on one Quire node against three (issue #16): every node on one PostgreSQL database,
# the three linked by one Redis, the load generator spreading each room's clients over the nodes
# in turn (so every update crosses Redis to reach most of its readers).
#
#   bench/cluster.sh [--quick] [--results DIR] [--case ID] [--drain-seconds N]
#
# --case runs only the cases with that id (repeatable, e.g. rooms=2000); --drain-seconds sets how
# long W3 rooms wait for their last updates (quire-bench's default: 5), to tell late deliveries
# from lost ones. Each node's cluster counters at the end of a case go to DIR/*.metrics.
#
# Needs target/release/quire and quire-bench (cargo build --release --bin quire --bin
# quire-bench), Debian's postgresql and redis-server. On a machine with two cores the servers
# (nodes, PostgreSQL, Redis) share core 0 and the generator has core 1: what this measures is
# what the cluster costs per update and in latency, not the capacity more machines add (see
# docs/benchmarks.md, "Several nodes"). Prints a Markdown table; raw results in DIR/*.jsonl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
quick=0
results=""
only=()
drain=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1 ;;
    --results) results=$2; shift ;;
    --case) only+=("$2"); shift ;;
    --drain-seconds) drain=(--drain-seconds "$2"); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
quire="$ROOT/target/release/quire"
bench="$ROOT/target/release/quire-bench"
for binary in "$quire" "$bench"; do
  [[ -x $binary ]] || { echo "missing $binary: cargo build --release --bin quire --bin quire-bench" >&2; exit 1; }
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -x $pg_bin/initdb ]] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/quire-cluster-bench.XXXXXX)
chmod 755 "$work" # PostgreSQL runs as its own user, inside it
results=${results:-$work/results}
mkdir -p "$results"
server_cpu=(taskset -c 0)
bench_cpu=(taskset -c 1)
if [[ $(nproc) -lt 2 ]]; then server_cpu=(); bench_cpu=(); fi
ulimit -n "$(ulimit -Hn)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  [[ -n ${pg_pid:-} ]] && kill -INT "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null || true
  [[ -n ${redis_pid:-} ]] && kill -9 "$redis_pid" 2>/dev/null || true
  rm -rf "$work/pg" "$work/data"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # $1: what, $2: command; up to 30 s
  for _ in $(seq 300); do if eval "$2" >/dev/null 2>&1; then return 0; fi; sleep 0.1; done
  echo "$1 did not come up" >&2; exit 1
}

# PostgreSQL, as a production server runs it (fsync on), owned by the postgres user.
mkdir -p "$work/pg"
as_postgres=()
if [[ $(id -u) == 0 ]]; then chown postgres "$work/pg"; as_postgres=(runuser -u postgres --); fi
"${as_postgres[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
pg_port=$(free_port)
"${server_cpu[@]}" "${as_postgres[@]}" "$pg_bin/postgres" -D "$work/pg/data" -p "$pg_port" -h 127.0.0.1 \
  -k "$work/pg" -c max_connections=200 -c shared_buffers=128MB >"$work/postgres.log" 2>&1 &
pg_pid=$!
wait_for PostgreSQL "$pg_bin/pg_isready -q -h 127.0.0.1 -p $pg_port"
redis_port=$(free_port)
"${server_cpu[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  >"$work/redis.log" 2>&1 &
redis_pid=$!
wait_for Redis "grep -q 'Ready to accept' $work/redis.log"

database=0
# Starts $1 nodes on a fresh database (clustered when more than one); sets urls and node_pids.
start_nodes() {
  local count=$1 store flags=()
  database=$((database + 1))
  "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "bench_$database"
  store="postgres://postgres@127.0.0.1:$pg_port/bench_$database"
  [[ $count -gt 1 ]] && flags=(--cluster "redis://127.0.0.1:$redis_port")
  urls=() node_pids=()
  for index in $(seq "$count"); do
    local port
    port=$(free_port)
    "${server_cpu[@]}" "$quire" serve --addr "127.0.0.1:$port" --store "$store" "${flags[@]}" \
      --max-messages-per-second 1000000 --max-connections-per-ip 1000000 --max-connections 1000000 \
      --log-format json >"$work/node-$database-$index.log" 2>&1 &
    pids+=($!)
    node_pids+=($!)
    urls+=("ws://127.0.0.1:$port")
    wait_for "node $index" "curl -sf http://127.0.0.1:$port/readyz"
  done
}
stop_nodes() {
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; done
}

if [[ $quick == 1 ]]; then
  cases=("W2|readers=10|hot-room --readers 10 --mode fixed --rate 200 --seconds 2 --quick"
         "W3|rooms=20|many-rooms --rooms 20 --clients-per-room 3 --rate-per-room 5 --seconds 2 --quick")
else
  cases=("W2|readers=100|hot-room --readers 100 --mode fixed --rate 200 --seconds 5"
         "W2|readers=1000|hot-room --readers 1000 --mode fixed --rate 20 --seconds 5"
         "W3|rooms=500|many-rooms --rooms 500 --clients-per-room 3 --rate-per-room 5 --seconds 5"
         "W3|rooms=2000|many-rooms --rooms 2000 --clients-per-room 3 --rate-per-room 5 --seconds 5")
fi

for entry in "${cases[@]}"; do
  IFS='|' read -r workload case_id command <<<"$entry"
  if [[ ${#only[@]} -gt 0 && ! " ${only[*]} " == *" $case_id "* ]]; then continue; fi
  for nodes in 1 3; do
    start_nodes "$nodes"
    label="$nodes-node"
    read -r -a subcommand <<<"$command"
    [[ $workload == W3 ]] && subcommand+=(--source-addresses 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 "${drain[@]}")
    joined_urls=$(IFS=,; echo "${urls[*]}")
    joined_pids=$(IFS=,; echo "${node_pids[*]}")
    out="$results/$workload-${case_id//=/}-$label.jsonl"
    if ! "${bench_cpu[@]}" "$bench" --url "$joined_urls" --room-path-prefix /ws/ --label "$label" \
      --server-pid "$joined_pids" --json "$out" "${subcommand[@]}" >"$work/bench.log" 2>&1; then
      echo "$workload $case_id on $label failed:" >&2
      tail -n 5 "$work/bench.log" >&2
    fi
    for url in "${urls[@]}"; do
      echo "# $url"
      curl -sf "http://${url#ws://}/metrics" | grep -E '^quire_cluster_(dropped|catch_ups|received|published)' || true
    done >"${out%.jsonl}.metrics"
    stop_nodes
  done
done

python3 - "$results" <<'PYTHON'
import glob, json, os, sys
rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.jsonl"))):
    for line in open(path):
        if not line.strip():
            continue
        run = json.loads(line)
        latency = run.get("latency_ms") or {}
        metrics = run.get("metrics") or {}
        server = run.get("server") or {}
        delivered = metrics.get("delivered_per_second") or metrics.get("deliveries_per_second") \
            or metrics.get("updates_delivered_per_second")
        seconds = run.get("params", {}).get("seconds") or metrics.get("seconds")
        updates = metrics.get("updates_sent") or metrics.get("sent")
        cpu = server.get("cpu_seconds")
        per_update = (cpu / updates * 1e6) if cpu and updates else None
        rows.append((os.path.basename(path).rsplit("-", 2)[0], run.get("label"),
                     latency.get("p50"), latency.get("p99"), delivered, cpu, per_update,
                     "yes" if run.get("valid") else "no"))
print("| case | topology | p50 ms | p99 ms | delivered/s | server CPU s | CPU µs per update | valid |")
print("|---|---|---|---|---|---|---|---|")
fmt = lambda value, spec: "-" if value is None else format(value, spec)
for case, label, p50, p99, delivered, cpu, per_update, valid in rows:
    print(f"| {case} | {label} | {fmt(p50, '.2f')} | {fmt(p99, '.2f')} | {fmt(delivered, ',.0f')} | "
          f"{fmt(cpu, '.2f')} | {fmt(per_update, '.0f')} | {valid} |")
PYTHON
echo "raw results: $results"
