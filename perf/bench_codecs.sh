#!/usr/bin/env bash
# `millrace bench` produce rate per compression codec against one fresh millrace broker:
# alternating rounds of each codec (max rate, produce only, 1 KiB messages whose filler is
# random lowercase letters, acks=all, one partition, 1 MB batches).
# Usage: bash perf/bench_codecs.sh [ROUNDS] [DURATION] [CODECS...]   (default: 2 5s none lz4)
# Prints one line per run: codec, msgs/s, payload MB/s, batch bytes sent / payload bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-2}"
DURATION="${2:-5s}"
shift $(( $# < 2 ? $# : 2 ))
CODECS=(none lz4)
[ $# -eq 0 ] || CODECS=("$@")
BIN=target/release/millrace
source perf/broker.sh
start_broker "$BIN" --override log.level=warn
echo "date $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    for codec in "${CODECS[@]}"; do
        out="$BROKER_DATA/out-$codec-$round"
        "$BIN" bench --bootstrap "$BOOTSTRAP" --topic-prefix "codec-$codec-$round" \
            --message-size 1024 --consumers-per-topic 0 --acks all --duration "$DURATION" \
            --compression "$codec" --delete-topics true --output "$out" >/dev/null 2>&1
        python3 - "$out/result.json" "$codec" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["produce"]
print(f"{sys.argv[2]:6} {r['msgs_per_s']:>12,.0f} msg/s {r['mb_per_s']:8.1f} MB/s "
      f"wire/payload {r['bytes_on_wire'] / max(r['bytes'], 1):.3f}")
PY
    done
done
