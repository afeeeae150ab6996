#!/usr/bin/env bash
# Issue 4's harness criterion: `millrace bench` (max rate, produce only) against a tuned
# librdkafka producer (perf/rdkafka-bench: linger 5 ms, batch 1 MB, 5 in flight), alternating,
# against the same fresh millrace broker. 1 KiB messages, acks=all, one partition.
# Usage: bash perf/bench_vs_rdkafka.sh [RUNS] [RDKAFKA_RECORDS] [BENCH_DURATION]
# BENCH_FLAGS="--batch-size 1048576" adds flags to the harness runs.
# Prints one line per run: tool, msgs/s, MB/s.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
RECORDS="${2:-1000000}"
DURATION="${3:-5s}"
BIN=target/release/millrace
RDK=perf/rdkafka-bench/target/release/rdkafka-bench
[ -x "$RDK" ] || (cd perf/rdkafka-bench && cargo build --release -q)
source perf/broker.sh
start_broker "$BIN" --override log.level=warn
echo "date $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$RUNS"); do
    "$RDK" --bootstrap "$BOOTSTRAP" --topic "vs-rdk-$run" --records "$RECORDS" --size 1024 \
        --acks all --linger-ms 5 --batch-bytes 1000000 --mode produce |
        sed -n '/"phase":"produce"/{s/.*"mb_s":\([0-9.]*\),"records_s":\([0-9]*\).*/rdkafka-bench \2 msg\/s \1 MB\/s/p}'
    "$BIN" bench --bootstrap "$BOOTSTRAP" --topic-prefix "vs-bench-$run" --message-size 1024 \
        --consumers-per-topic 0 --acks all --duration "$DURATION" --delete-topics true ${BENCH_FLAGS:-} 2>/dev/null |
        awk '/^produce/ {printf "millrace-bench %s msg/s %s MB/s\n", $2, $4}'
done
