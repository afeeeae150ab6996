#!/usr/bin/env bash
# Foundation benchmark (issue 2's speed section), all in one run so ratios hold on a noisy machine:
#   1. loopback TCP limit (iperf3, one stream) for the ratio;
#   2. produce 1 KiB records, acks=all, one partition, librdkafka (confluent-kafka), then a
#      catch-up consume of the same records;
#   3. the same produce/consume with kcat (librdkafka in C, no Python per-message cost).
# Usage: bash perf/run_foundation.sh [RECORDS] ; prints JSON lines, one per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
PORT="${MILLRACE_BENCH_PORT:-19392}"
DATA="$(mktemp -d /tmp/millrace-bench.XXXXXX)"
VENV="${MILLRACE_TEST_VENV:-target/test-venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=python3
cargo build --release -q
broker_pid=""
cleanup() {
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT

echo "{\"machine\": \"$(nproc) vCPU, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)\", \"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\", \"commit\": \"$(git rev-parse --short HEAD)\"}"

if command -v iperf3 >/dev/null; then
    iperf3 -s -1 -p 15201 >/dev/null 2>&1 &
    sleep 0.5
    iperf3 -c 127.0.0.1 -p 15201 -t 5 -J | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"iperf3_loopback_mb_s": round(d["end"]["sum_received"]["bits_per_second"]/8e6)}))'
fi

target/release/millrace serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
    --override "log.dirs=$DATA" --override log.level=warn 2>"$DATA.stderr" &
broker_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

"$PY" perf/produce_consume.py --bootstrap "127.0.0.1:$PORT" --records "$RECORDS" --size 1024 --acks all

if command -v kcat >/dev/null; then
    topic="kcat-bench-$$"
    head -c 1023 /dev/zero | tr '\0' 'x' > "$DATA.line"; echo >> "$DATA.line"
    # One 1 KiB line repeated; kcat -P sends each line as one record.
    "$PY" - "$DATA.line" "$RECORDS" > "$DATA.input" <<'PYEOF'
import sys
line = open(sys.argv[1], "rb").read()
sys.stdout.buffer.write(line * int(sys.argv[2]))
PYEOF
    start=$(date +%s.%N)
    kcat -P -b "127.0.0.1:$PORT" -t "$topic" -p 0 -X acks=all -X linger.ms=5 -X batch.size=1000000 \
        -X queue.buffering.max.kbytes=1048576 < "$DATA.input"
    mid=$(date +%s.%N)
    count=$(kcat -C -b "127.0.0.1:$PORT" -t "$topic" -p 0 -o beginning -e -q -f '\n' \
        -X fetch.max.bytes=52428800 -X max.partition.fetch.bytes=10485760 | wc -l)
    end=$(date +%s.%N)
    "$PY" -c "import json; r=$RECORDS; p=$mid-$start; c=$end-$mid; print(json.dumps({'tool':'kcat','records':r,'consumed':$count,'produce_mb_s':round(r*1024/1e6/p,1),'consume_mb_s':round(r*1024/1e6/c,1)}))"
    rm -f "$DATA.input" "$DATA.line"
fi
