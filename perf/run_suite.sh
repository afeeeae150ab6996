#!/usr/bin/env bash
# Runs the standard `millrace bench` suite (perf/workloads/*.toml) against one broker and writes
# each workload's result.json + chart.svg, plus a summary table (suite.md), into a dated folder.
#
# Usage: bash perf/run_suite.sh [BOOTSTRAP|local] [OUT_BASE]
#   BOOTSTRAP  host:port of any Kafka-compatible broker; `local` (default) starts this tree's
#              target/release/millrace on a free port with a fresh data dir and stops it after.
#   OUT_BASE   parent of the dated folder (default perf/results).
# Environment: DURATION=10s overrides every workload's duration (e.g. for a quick pass),
#   WORKLOADS="a.toml b.toml" runs only these, BENCH_THREADS=N pins the harness to N executors.
set -euo pipefail
cd "$(dirname "$0")/.."
BOOTSTRAP="${1:-local}"
OUT_BASE="${2:-perf/results}"
STAMP="$(date -u +%Y-%m-%dT%H%MZ)"
OUT="$OUT_BASE/$STAMP"
BIN=target/release/millrace
WORKLOADS="${WORKLOADS:-$(ls perf/workloads/*.toml)}"
mkdir -p "$OUT"
[ -x "$BIN" ] || cargo build --release -q

if [ "$BOOTSTRAP" = local ]; then
    source perf/broker.sh
    BROKER_STDERR="$OUT/broker.stderr" start_broker "$BIN" --override log.level=warn
fi

{
    echo "machine: $(nproc) vCPU, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "date: $STAMP; commit: $(git rev-parse --short HEAD); bootstrap: $BOOTSTRAP"
} > "$OUT/machine.txt"

extra=()
[ -n "${DURATION:-}" ] && extra+=(--duration "$DURATION")
[ -n "${BENCH_THREADS:-}" ] && extra+=(--threads "$BENCH_THREADS")
status=0
for workload in $WORKLOADS; do
    name="$(basename "$workload" .toml)"
    echo "== $name" >&2
    # A fresh topic per run (stamp in the prefix), deleted afterwards to bound disk use.
    if ! "$BIN" bench --workload "$workload" --bootstrap "$BOOTSTRAP" \
        --topic-prefix "suite-$name-$STAMP" --delete-topics true "${extra[@]}" \
        --output "$OUT/$name" > "$OUT/$name.summary.txt" 2> "$OUT/$name.progress.txt"; then
        echo "!! $name failed: $(tail -1 "$OUT/$name.progress.txt")" >&2
        status=1
    fi
    cat "$OUT/$name.summary.txt" >&2
done

python3 - "$OUT" > "$OUT/suite.md" <<'PYEOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("| workload | produce msg/s | produce MB/s | publish p50 / p99 / p99.9 ms | e2e p50 / p99 / p99.9 ms | errors |")
print("|---|---|---|---|---|---|")
for path in sorted(out.glob("*/result.json")):
    r = json.loads(path.read_text())
    p, e = r["publish_latency_ms"], r["e2e_latency_ms"]
    drain = f" (drain {r['consume']['msgs'] / max(r['drain_s'], 1e-3):,.0f} msg/s)" if r["workload"].get("backlog") else ""
    print(f"| {r['name']} | {r['produce']['msgs_per_s']:,.0f}{drain} | {r['produce']['mb_per_s']:.1f} "
          f"| {p['p50']:.2f} / {p['p99']:.2f} / {p['p99.9']:.2f} | {e['p50']:.2f} / {e['p99']:.2f} / {e['p99.9']:.2f} "
          f"| {r['errors']} |")
PYEOF
cat "$OUT/suite.md"
echo "results in $OUT" >&2
exit $status
