#!/usr/bin/env bash
# Starts a fresh millrace broker, runs rdkafka-bench against it (produce, then catch-up consume),
# samples the broker's CPU time (utime+stime from /proc/<pid>/stat) around each phase, and stops
# the broker. Prints the tool's JSON lines plus one summary line for the whole run.
# Usage: perf/rdkafka-bench/run.sh [rdkafka-bench flags...]
#   default flags: --records 1000000 --size 1024 --acks all --mode both
#   env: RB_PORT (default: a free port), MILLRACE_BIN (default target/release/millrace)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
broker_bin="${MILLRACE_BIN:-$repo/target/release/millrace}"
bench_bin="$here/target/release/rdkafka-bench"

[ -x "$bench_bin" ] || (cd "$here" && cargo build --release)

# utime+stime in clock ticks; fields counted after the ")" closing the command name.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

source "$repo/perf/broker.sh"
cd "$repo"
BROKER_PORT="${RB_PORT:-}" BROKER_STDERR=/dev/stderr start_broker "$broker_bin" \
    2> >(grep -v "probing iopoll" >&2)

if [ "$#" -eq 0 ]; then set -- --records 1000000 --size 1024 --acks all --mode both; fi
ticks_before=$(cpu_ticks "$BROKER_PID")
start=$(date +%s.%N)
"$bench_bin" --bootstrap "$BOOTSTRAP" --topic "rdkafka-bench-$$" --broker-pid "$BROKER_PID" "$@"
end=$(date +%s.%N)
ticks_after=$(cpu_ticks "$BROKER_PID")
awk -v t="$((ticks_after - ticks_before))" -v hz="$(getconf CLK_TCK)" -v s="$start" -v e="$end" \
    -v du="$(du -sm "$BROKER_DATA" | cut -f1)" \
    'BEGIN { printf "{\"tool\":\"run.sh\",\"phase\":\"whole-run\",\"seconds\":%.3f,\"broker_cpu_s\":%.2f,\"data_dir_mib\":%d}\n", e - s, t / hz, du }'
