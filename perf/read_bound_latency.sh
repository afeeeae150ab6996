#!/usr/bin/env bash
# End-to-end latency of durable reads (issue 10, item 2): brokers interleaved in one run.
#
#   [ACKS_LEVELS="1 all"] [RATES="5000 50000"] bash perf/read_bound_latency.sh BEFORE_BIN AFTER_BIN [ROUNDS] [DURATION]
#
# Each round runs, for every (acks, rate) of 1 KiB messages over 4 partitions (2 producers,
# 2 consumers, linger 1 ms), one fixed-rate `millrace bench` against a fresh broker of each
# variant, in turn: BEFORE_BIN (consumers read the log end), AFTER_BIN with its defaults
# (consumers read fsynced records; acks=0/1 data fsynced within log.flush.visibility.ms),
# AFTER_BIN with log.flush.visibility.ms=0 and AFTER_BIN with log.unflushed.read.enable=true.
# The harness is AFTER_BIN's `bench` in every run. Prints one line per run (e2e and publish
# p50/p99/p99.9 in ms) and, at the end, the median of each over the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
source perf/broker.sh

BEFORE_BIN="$1"
AFTER_BIN="$2"
ROUNDS="${3:-3}"
DURATION="${4:-10s}"
OUT="$(mktemp -d /tmp/millrace-read-bound.XXXXXX)"
RATES="${RATES:-5000 50000}"
ACKS_LEVELS="${ACKS_LEVELS:-1 all}"

variant_flags() {
    case "$1" in
        before | after) ;;
        after-visibility-0) echo "--override log.flush.visibility.ms=0" ;;
        after-unflushed) echo "--override log.unflushed.read.enable=true" ;;
    esac
}

variant_bin() {
    case "$1" in
        before) echo "$BEFORE_BIN" ;;
        *) echo "$AFTER_BIN" ;;
    esac
}

run_one() {
    local variant="$1" acks="$2" rate="$3" round="$4"
    local dir="$OUT/$variant-acks$acks-rate$rate-r$round"
    # shellcheck disable=SC2046
    start_broker "$(variant_bin "$variant")" $(variant_flags "$variant")
    "$AFTER_BIN" bench --bootstrap "$BOOTSTRAP" --name "$variant" --topic-prefix "rb-$round" \
        --partitions-per-topic 4 --producers-per-topic 2 --consumers-per-topic 2 \
        --message-size 1024 --rate "$rate" --acks "$acks" --linger 1ms --batch-size 131072 \
        --duration "$DURATION" --warmup 2s --output "$dir" >"$dir.log" 2>&1 || {
        echo "bench failed: $dir.log" >&2
        tail -5 "$dir.log" >&2
    }
    stop_broker
    trap - EXIT
    BROKER_PID=""
    BROKER_DATA=""
    python3 - "$dir/result.json" "$variant" "$acks" "$rate" "$round" <<'EOF'
import json, sys
path, variant, acks, rate, round_ = sys.argv[1:]
r = json.load(open(path))
e, p = r["e2e_latency_ms"], r["publish_latency_ms"]
print(f"round {round_} {variant:20} acks={acks:3} rate={rate:>6} produced {r['produce']['msgs_per_s']:>9.0f}/s "
      f"e2e {e['p50']:.2f} / {e['p99']:.2f} / {e['p99.9']:.2f}  publish {p['p50']:.2f} / {p['p99']:.2f} / {p['p99.9']:.2f}"
      f"  errors {r['errors']}")
EOF
}

mkdir -p "$OUT"
for round in $(seq "$ROUNDS"); do
    for acks in $ACKS_LEVELS; do
        for rate in $RATES; do
            for variant in before after after-visibility-0 after-unflushed; do
                run_one "$variant" "$acks" "$rate" "$round"
            done
        done
    done
done

python3 - "$OUT" <<'EOF'
import glob, json, os, statistics, sys
rows = {}
for path in glob.glob(os.path.join(sys.argv[1], "*/result.json")):
    variant, acks, rate, _ = os.path.basename(os.path.dirname(path)).rsplit("-", 3)
    r = json.load(open(path))
    rows.setdefault((acks, int(rate[4:]), variant), []).append(r)
print("\nmedians over rounds (ms): e2e p50 / p99 / p99.9 | publish p50 / p99 / p99.9")
for (acks, rate, variant), runs in sorted(rows.items()):
    med = lambda key, q: statistics.median(r[key][q] for r in runs)
    e = " / ".join(f"{med('e2e_latency_ms', q):.2f}" for q in ("p50", "p99", "p99.9"))
    p = " / ".join(f"{med('publish_latency_ms', q):.2f}" for q in ("p50", "p99", "p99.9"))
    print(f"| {acks} | {rate * 1024 / 1e6:.0f} MB/s | {variant} | {e} | {p} | {len(runs)} |")
EOF
echo "results in $OUT"
