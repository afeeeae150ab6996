#!/usr/bin/env bash
# A/B of two broker builds on one partition, interleaved in one run (A, B, A, B...), a fresh
# broker per run: max produce throughput (acks=all, 1 KiB records, no consumer), end-to-end
# latency at a fixed rate (acks=all, 1 KiB records, one consumer) and, as kind `catchup`, the
# catch-up consume rate (5 s of max-rate produce, then one consumer drains the backlog: consumed
# msgs / drain time). Prints one line per run and the medians; the figures go to
# perf/RESULTS.md by hand.
#
#   perf/ab_one_partition.sh BIN_A BIN_B [ROUNDS] [RATE]
# The harness is BIN_B's `millrace bench` for both. Results stay in $AB_OUT (a temp dir).
# AB_KINDS picks the kinds (default "throughput latency"); AB_LOCK=FILE runs each run under
# `flock FILE`, so that benchmarks of other people sharing the machine never overlap with one.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_A="$1"
BIN_B="$2"
ROUNDS="${3:-5}"
RATE="${4:-20000}"
AB_OUT="${AB_OUT:-$(mktemp -d /tmp/millrace-ab.XXXXXX)}"
mkdir -p "$AB_OUT"
source perf/broker.sh

run_one() { # bin label kind round
    local bin="$1" label="$2" kind="$3" round="$4" out="$AB_OUT/$kind-$label-$round"
    start_broker "$bin" --override num.shards=1
    if [ "$kind" = throughput ]; then
        "$BIN_B" bench --bootstrap "$BOOTSTRAP" --name "$label" --partitions-per-topic 1 \
            --consumers-per-topic 0 --duration 5s --output "$out" >/dev/null
    elif [ "$kind" = catchup ]; then
        "$BIN_B" bench --bootstrap "$BOOTSTRAP" --name "$label" --partitions-per-topic 1 \
            --consumers-per-topic 1 --backlog true --duration 5s --output "$out" >/dev/null
    else
        "$BIN_B" bench --bootstrap "$BOOTSTRAP" --name "$label" --partitions-per-topic 1 \
            --consumers-per-topic 1 --rate "$RATE" --warmup 2s --duration 10s --output "$out" >/dev/null
    fi
    stop_broker
    BROKER_PID=""
    BROKER_DATA=""
    python3 - "$out/result.json" "$label" "$kind" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e2e = r.get("e2e_latency_ms") or {}
if sys.argv[3] == "catchup":
    e2e = {}
    rate = r["consume"]["msgs"] / max(r["drain_s"], 1e-3)
else:
    rate = r["produce"]["msgs_per_s"]
print(sys.argv[3], sys.argv[2], round(rate, 1), r["errors"],
      e2e.get("p50", "-"), e2e.get("p99", "-"), e2e.get("p99.9", "-"))
PY
}

if [ -n "${AB_LOCK:-}" ]; then exec 9>>"$AB_LOCK"; fi
echo "kind label msgs_per_s errors e2e_p50_ms e2e_p99_ms e2e_p99.9_ms" | tee "$AB_OUT/runs.txt"
for kind in ${AB_KINDS:-throughput latency}; do
    for round in $(seq "$ROUNDS"); do
        # Alternate which build goes first in each round.
        if [ $((round % 2)) -eq 1 ]; then order="A B"; else order="B A"; fi
        for label in $order; do
            if [ "$label" = A ]; then bin="$BIN_A"; else bin="$BIN_B"; fi
            if [ -n "${AB_LOCK:-}" ]; then flock 9; fi
            run_one "$bin" "$label" "$kind" "$round" | tee -a "$AB_OUT/runs.txt"
            if [ -n "${AB_LOCK:-}" ]; then flock -u 9; fi
        done
    done
done
python3 - "$AB_OUT/runs.txt" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]).read().splitlines()[1:]]
for kind, column, name in [("throughput", 2, "msgs/s"), ("catchup", 2, "drain msgs/s"), ("latency", 4, "e2e p50 ms"),
                           ("latency", 5, "e2e p99 ms"), ("latency", 6, "e2e p99.9 ms")]:
    for label in "AB":
        values = [float(r[column]) for r in rows if r[0] == kind and r[1] == label and r[column] != "-"]
        if values:
            print(f"{kind:10} {label} median {name}: {statistics.median(values):.3f} ({len(values)} runs)")
PY
echo "results in $AB_OUT"
