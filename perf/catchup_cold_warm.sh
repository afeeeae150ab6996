#!/usr/bin/env bash
# Catch-up consume, cold then warm: one fresh broker; rdkafka-bench produces N x 1 KiB (acks=all)
# to one partition, then consumes the whole topic READS times. The first read finds the page
# cache empty (appends are O_DIRECT); later reads find it full. Each line has the client's and
# the broker's CPU seconds, so the cost of a cold read can be placed on one side or the other.
# Usage: perf/catchup_cold_warm.sh [RECORDS=1000000] [READS=3]
#   env: RB_PORT (default: a free port), MILLRACE_BIN (default target/release/millrace)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
records="${1:-1000000}"
reads="${2:-3}"
broker_bin="${MILLRACE_BIN:-$repo/target/release/millrace}"
bench_bin="$repo/perf/rdkafka-bench/target/release/rdkafka-bench"

[ -x "$bench_bin" ] || (cd "$repo/perf/rdkafka-bench" && cargo build --release)

source "$repo/perf/broker.sh"
cd "$repo"
BROKER_PORT="${RB_PORT:-}" start_broker "$broker_bin" --override http.listener=

summary() {
    python3 -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    j = json.loads(line)
    mb, client, broker = j["mb_s"], j["client_cpu_s"], j["broker_cpu_s"]
    print(f"{sys.argv[1]:8s} {mb:7.1f} MB/s  client CPU {client:.2f} s  broker CPU {broker:.2f} s")
' "$1"
}
common=(--bootstrap "$BOOTSTRAP" --topic catchup --records "$records" --size 1024 --broker-pid "$BROKER_PID")
"$bench_bin" "${common[@]}" --acks all --mode produce | summary produce
for read in $(seq "$reads"); do
    "$bench_bin" "${common[@]}" --mode consume | summary "read $read"
done
if command -v fincore >/dev/null; then fincore "$BROKER_DATA"/log/catchup-0/*.log; fi
