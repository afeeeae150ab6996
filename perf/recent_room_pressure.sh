#!/usr/bin/env bash
# Recent data given back when the host is short of memory (issue 14 §1,
# `log.recent.memory.available.min.bytes`): the broker's RSS and the
# latency of a fixed-rate producer while a give-back episode runs, against
# the same run with the check off.
#
# The shortage is made by setting the minimum just under what is available
# when the broker starts (MemAvailable - HEADROOM_MIB): once the broker holds
# about HEADROOM_MIB of recent data, memory is "short" and it gives back. The broker starts
# with its whole room (`log.recent.bytes.per.shard.initial=-1`): with no consumer lagging, a
# room sized by demand would stay at 128 MiB and never make memory short.
#
#   perf/recent_room_pressure.sh [BINARY] [ROUNDS]
# Env: RATE (msgs/s, 1 KiB each; default 100000 = ~100 MB/s), DURATION (20s),
#      HEADROOM_MIB (512), ACKS (1).
set -euo pipefail
BIN=${1:-target/release/millrace}
ROUNDS=${2:-3}
RATE=${RATE:-100000}
DURATION=${DURATION:-20s}
HEADROOM_MIB=${HEADROOM_MIB:-512}
ACKS=${ACKS:-1}
PORT=${PORT:-19192}
OUT=$(mktemp -d /tmp/recent-room-pressure.XXXX)
SUMMARY=$(dirname "$0")/recent_room_pressure_summary.py

rss_mib() { awk '/VmRSS/{print int($2/1024)}' "/proc/$1/status"; }

one_run() { # $1 = label, $2 = minimum (bytes; 0 = off)
  local dir="$OUT/$1-$round" pid rss
  mkdir -p "$dir"
  "$BIN" serve --override num.shards=1 --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
    --override "log.dirs=$dir/data" --override "log.recent.memory.available.min.bytes=$2" \
    --override log.recent.bytes.per.shard.initial=-1 \
    > "$dir/broker.log" 2>&1 &
  pid=$!
  sleep 2
  "$BIN" bench --bootstrap "127.0.0.1:$PORT" --rate "$RATE" --duration "$DURATION" \
    --acks "$ACKS" --name "$1" --output "$dir" > "$dir/bench.log" 2>&1
  rss=$(rss_mib "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 "$SUMMARY" "$dir/result.json" "$1" "$rss" "$dir/broker.log"
}

for round in $(seq 1 "$ROUNDS"); do
  avail=$(( $(awk '/MemAvailable/{print $2}' /proc/meminfo) * 1024 ))
  one_run pressure $((avail - (HEADROOM_MIB << 20)))
  one_run off 0
done
echo "raw: $OUT"
