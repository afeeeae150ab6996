#!/usr/bin/env bash
# Starts a fresh millrace broker, runs rdkafka-bench against it (produce, then catch-up consume),
# samples the broker's CPU time (utime+stime from /proc/<pid>/stat) around each phase, and stops
# the broker. Prints the tool's JSON lines plus one summary line for the whole run.
# Usage: perf/rdkafka-bench/run.sh [rdkafka-bench flags...]
#   default flags: --records 1000000 --size 1024 --acks all --mode both
#   env: RB_PORT (default 19500), MILLRACE_BIN (default target/release/millrace)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
port="${RB_PORT:-19500}"
broker_bin="${MILLRACE_BIN:-$repo/target/release/millrace}"
bench_bin="$here/target/release/rdkafka-bench"
data="$(mktemp -d /tmp/rb-data.XXXXXX)"

[ -x "$broker_bin" ] || (cd "$repo" && cargo build --release)
[ -x "$bench_bin" ] || (cd "$here" && cargo build --release)

broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
    rm -rf "$data"
}
trap cleanup EXIT

# utime+stime in clock ticks; fields counted after the ")" closing the command name.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

"$broker_bin" serve --override "listeners=PLAINTEXT://127.0.0.1:$port" \
    --override "log.dirs=$data" 2> >(grep -v "probing iopoll" >&2) &
broker_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

if [ "$#" -eq 0 ]; then set -- --records 1000000 --size 1024 --acks all --mode both; fi
ticks_before=$(cpu_ticks "$broker_pid")
start=$(date +%s.%N)
"$bench_bin" --bootstrap "127.0.0.1:$port" --topic "rdkafka-bench-$$" --broker-pid "$broker_pid" "$@"
end=$(date +%s.%N)
ticks_after=$(cpu_ticks "$broker_pid")
awk -v t="$((ticks_after - ticks_before))" -v hz="$(getconf CLK_TCK)" -v s="$start" -v e="$end" \
    -v du="$(du -sm "$data" | cut -f1)" \
    'BEGIN { printf "{\"tool\":\"run.sh\",\"phase\":\"whole-run\",\"seconds\":%.3f,\"broker_cpu_s\":%.2f,\"data_dir_mib\":%d}\n", e - s, t / hz, du }'
