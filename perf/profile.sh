#!/usr/bin/env bash
# Records a CPU profile of a millrace broker while `millrace bench` drives a workload.
#
# Usage: bash perf/profile.sh WORKLOAD.toml [BROKER_PID BOOTSTRAP] [OUT_DIR]
#   Without BROKER_PID/BOOTSTRAP it starts this tree's target/release/millrace on a free port.
# Writes OUT_DIR (default perf/results/profile-<stamp>) with perf.data, a `perf report` top list
# (report.txt), and flamegraph.svg when inferno-flamegraph (cargo install inferno) or
# FlameGraph's stackcollapse-perf.pl + flamegraph.pl are on PATH.
# Needs `perf` and a kernel that lets this user profile (perf_event_paranoid <= 1, or root).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOAD="${1:?usage: perf/profile.sh WORKLOAD.toml [BROKER_PID BOOTSTRAP] [OUT_DIR]}"
BROKER_PID="${2:-}"
BOOTSTRAP="${3:-}"
OUT="${4:-perf/results/profile-$(date -u +%Y-%m-%dT%H%MZ)}"
BIN=target/release/millrace
FREQ_HZ="${PERF_FREQ_HZ:-999}"
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 1; }
mkdir -p "$OUT"
if [ -z "$BROKER_PID" ]; then
    source perf/broker.sh
    BROKER_STDERR="$OUT/broker.stderr" start_broker "$BIN" --override log.level=warn
fi
perf record -F "$FREQ_HZ" -g -p "$BROKER_PID" -o "$OUT/perf.data" 2>"$OUT/perf-record.log" &
perf_pid=$!
"$BIN" bench --workload "$WORKLOAD" --bootstrap "$BOOTSTRAP" --output "$OUT/bench" \
    --topic-prefix "profile-$$" --delete-topics true | tee "$OUT/bench-summary.txt"
kill -INT "$perf_pid"
wait "$perf_pid" || true
perf report -i "$OUT/perf.data" --stdio --no-children --percent-limit 1 2>/dev/null | head -120 > "$OUT/report.txt"
if command -v inferno-collapse-perf >/dev/null && command -v inferno-flamegraph >/dev/null; then
    perf script -i "$OUT/perf.data" | inferno-collapse-perf | inferno-flamegraph > "$OUT/flamegraph.svg"
elif command -v stackcollapse-perf.pl >/dev/null && command -v flamegraph.pl >/dev/null; then
    perf script -i "$OUT/perf.data" | stackcollapse-perf.pl | flamegraph.pl > "$OUT/flamegraph.svg"
else
    echo "no flamegraph tool on PATH: see $OUT/report.txt (cargo install inferno for a flamegraph)" >&2
fi
echo "profile in $OUT" >&2
