#!/usr/bin/env bash
# Allocations per record on the produce path and on the fetch path.
# Builds the broker with the counting allocator (feature alloc-stats, in its own target dir),
# runs it four times: produce-only and produce+consume, each with SMALL and LARGE record
# counts (1 KiB records, librdkafka batching), stops it cleanly and reads the allocation totals
# it logs. The difference between the two sizes divided by the difference in records is the
# marginal allocations per record; start-up and per-connection costs cancel out.
# Usage: bash perf/alloc_per_record.sh [SMALL] [LARGE]
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL="${1:-100000}"
LARGE="${2:-400000}"
PORT="${MILLRACE_BENCH_PORT:-19393}"
VENV="${MILLRACE_TEST_VENV:-target/test-venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=python3
CARGO_TARGET_DIR=target/alloc-stats cargo build --release -q --features alloc-stats
BIN=target/alloc-stats/release/millrace

run_once() { # records mode -> prints allocations
    local records=$1 mode=$2 data
    data="$(mktemp -d /tmp/millrace-alloc.XXXXXX)"
    "$BIN" serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" --override "log.dirs=$data" \
        --override log.level=info 2>"$data.log" &
    local pid=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
    local extra=()
    [ "$mode" = produce ] && extra=(--skip-consume)
    "$PY" perf/produce_consume.py --bootstrap "127.0.0.1:$PORT" --records "$records" --size 1024 \
        --acks all "${extra[@]}" >/dev/null
    kill -TERM "$pid"; wait "$pid" || true
    sed -n 's/.*allocations during the run: \([0-9]*\) .*requests \([0-9]*\); produced batches \([0-9]*\).*/\1,\2,\3/p' "$data.log"
    rm -rf "$data" "$data.log"
}

for mode in produce produce+consume; do
    small=$(run_once "$SMALL" "$mode")
    large=$(run_once "$LARGE" "$mode")
    "$PY" -c "
import json
(s, sr, sb), (l, lr, lb), a, b = ($small), ($large), $SMALL, $LARGE
print(json.dumps({'mode': '$mode', 'records': [a, b], 'allocations': [s, l], 'requests': [sr, lr],
    'produced_batches': [sb, lb],
    'allocations_per_record': round((l - s) / (b - a), 4),
    'allocations_per_request': round((l - s) / max(lr - sr, 1), 1),
    'records_per_batch': round(b / max(lb, 1), 1)}))"
done
