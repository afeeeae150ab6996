#!/usr/bin/env bash
# A/B of two broker builds for the latency tail (issue 14 §2), interleaved in one run (A, B, A,
# B...), a fresh broker per run, the broker's default shards:
#   - tail1 / tailall: `millrace bench` at a fixed rate (1 KiB, 4 partitions, 1 producer,
#     1 consumer, linger 1 ms), acks=1 / acks=all: publish and end-to-end p50/p99/p99.9, and the
#     broker's own Produce request p99 (its histogram's bucket bound, from /metrics);
#   - throughput: max-rate produce, acks=all, 1 KiB, 1 partition, no consumer: MB/s;
#   - tailmax1: max-rate produce, acks=1, 4 partitions, 1 tailing consumer: MB/s and latencies
#     (what syncing for parked consumers costs at full speed);
# every run also records the broker's peak RSS (VmHWM), the segment rolls it logged and, when the
# build has it (millrace_segment_roll_seconds), the longest time a roll kept appends waiting
# (its histogram's bucket bound), and the broker's CPU seconds over the bench (/proc/PID/stat).
# With AB_PERF_STAT=1, `perf stat -p` also counts the broker's `io_uring_enter` calls and the
# io_uring operations it submitted over the bench. Prints one line per run, then the medians and
# the B/A ratios; the figures go to perf/RESULTS.md by hand.
#
#   perf/latency_ab.sh BIN_A BIN_B [ROUNDS=3] [RATE=51200] [DURATION=10s]
# The harness is BIN_B's `millrace bench` for both. AB_KINDS picks the kinds (default
# "tail1 tailall throughput"); AB_LOCK=FILE runs each run under `flock FILE`; AB_OVERRIDES="k=v
# ..." adds broker settings (e.g. log.segment.bytes=67108864 for more rolls); results stay in
# $AB_OUT (a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_A="$1"
BIN_B="$2"
ROUNDS="${3:-3}"
RATE="${4:-51200}"
DURATION="${5:-10s}"
KINDS="${AB_KINDS:-tail1 tailall throughput}"
AB_OUT="${AB_OUT:-$(mktemp -d /tmp/millrace-latency-ab.XXXXXX)}"
mkdir -p "$AB_OUT"
source perf/broker.sh

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_args() { # kind
    case "$1" in
    tail1 | tailall)
        local acks=1
        [ "$1" = tailall ] && acks=-1
        echo --acks "$acks" --rate "$RATE" --partitions-per-topic 4 --producers-per-topic 1 \
            --consumers-per-topic 1 --warmup 2s --duration "$DURATION"
        ;;
    throughput)
        echo --acks -1 --partitions-per-topic 1 --consumers-per-topic 0 --duration 5s
        ;;
    tailmax1)
        echo --acks 1 --partitions-per-topic 4 --producers-per-topic 1 --consumers-per-topic 1 \
            --warmup 2s --duration "$DURATION"
        ;;
    esac
}

broker_cpu_ticks() { # user + system clock ticks of the running broker
    awk '{print $14 + $15}' "/proc/$BROKER_PID/stat"
}

run_one() { # bin label kind round
    local bin="$1" label="$2" kind="$3" round="$4"
    local out="$AB_OUT/$kind-$label-$round" http_port
    http_port="$(free_port)"
    mkdir -p "$out"
    local overrides=(--override "http.listener=127.0.0.1:$http_port")
    for setting in ${AB_OVERRIDES:-}; do overrides+=(--override "$setting"); done
    BROKER_STDERR="$out/broker.stderr" start_broker "$bin" "${overrides[@]}"
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/ready" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$http_port/metrics" >"$out/metrics.before"
    broker_cpu_ticks >"$out/cpu.before"
    local perf_pid=""
    if [ -n "${AB_PERF_STAT:-}" ]; then
        perf stat -x, -o "$out/perf-stat.csv" -p "$BROKER_PID" \
            -e syscalls:sys_enter_io_uring_enter,io_uring:io_uring_submit_req &
        perf_pid=$!
    fi
    # shellcheck disable=SC2046
    "$BIN_B" bench --bootstrap "$BOOTSTRAP" --name "$label" $(bench_args "$kind") \
        --output "$out" >"$out/bench.log" 2>&1
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
    fi
    broker_cpu_ticks >"$out/cpu.after"
    curl -sf "http://127.0.0.1:$http_port/metrics" >"$out/metrics.after"
    sed -n 's/^VmHWM:\s*//p' "/proc/$BROKER_PID/status" >"$out/vmhwm"
    cut -d' ' -f1 /proc/loadavg >"$out/load"
    stop_broker
    BROKER_PID=""
    BROKER_DATA=""
    python3 - "$out" "$label" "$kind" <<'PY'
import json, re, sys
out, label, kind = sys.argv[1:]
r = json.load(open(f"{out}/result.json"))
def buckets(path, family, label=""):
    counts = {}
    for line in open(path):
        if line.startswith(f"{family}_bucket") and label in line:
            le = re.search(r'le="([^"]+)"', line).group(1)
            counts[le] = counts.get(le, 0) + float(line.rsplit(" ", 1)[1])
    return counts
def cumulative(family, label=""):
    before, after = buckets(f"{out}/metrics.before", family, label), buckets(f"{out}/metrics.after", family, label)
    return sorted((float("inf") if le == "+Inf" else float(le), after[le] - before.get(le, 0)) for le in after)
def quantile_le_ms(cum, q):
    total = cum[-1][1] if cum else 0
    return next((le for le, c in cum if c >= q * total), float("nan")) * 1000 if total else float("nan")
broker_p99 = quantile_le_ms(cumulative("millrace_request_latency_seconds", 'api="Produce"'), 0.99)
roll_wait_max = quantile_le_ms(cumulative("millrace_segment_roll_seconds"), 1.0)
rolls = sum("rolled segment" in line for line in open(f"{out}/broker.stderr", errors="replace"))
syncs = cumulative("millrace_fsync_latency_seconds")
syncs = int(syncs[-1][1]) if syncs else 0
import os
tick_hz = os.sysconf("SC_CLK_TCK")
cpu_s = (int(open(f"{out}/cpu.after").read()) - int(open(f"{out}/cpu.before").read())) / tick_hz
counts = {}
if os.path.exists(f"{out}/perf-stat.csv"):
    for line in open(f"{out}/perf-stat.csv"):
        fields = line.strip().split(",")
        if len(fields) > 2 and fields[0].replace(".", "").isdigit():
            counts[fields[2].split(":")[-1]] = int(float(fields[0]))
p, e = r["publish_latency_ms"], r["e2e_latency_ms"]
mbps = r.get("produce_mb_per_s") or r.get("produce", {}).get("mb_per_s") or 0
row = dict(label=label, kind=kind, pub_p50=p["p50"], pub_p99=p["p99"], pub_p999=p["p99.9"],
           e2e_p50=e["p50"], e2e_p99=e["p99"], e2e_p999=e["p99.9"], broker_produce_p99_le=broker_p99,
           rolls=rolls, roll_wait_max_le=roll_wait_max, fdatasyncs=syncs,
           mb_s=mbps, rss_mib=int(open(f"{out}/vmhwm").read().split()[0]) / 1024, broker_cpu_s=cpu_s,
           uring_enters=counts.get("sys_enter_io_uring_enter", 0),
           uring_ops=counts.get("io_uring_submit_req", 0),
           load=float(open(f"{out}/load").read()))
json.dump(row, open(f"{out}/row.json", "w"))
print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
PY
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    for kind in $KINDS; do
        for ab in A B; do
            bin="$BIN_A"
            [ "$ab" = B ] && bin="$BIN_B"
            if [ -n "${AB_LOCK:-}" ]; then
                exec 9>>"$AB_LOCK"
                flock 9
            fi
            run_one "$bin" "$ab" "$kind" "$round"
            if [ -n "${AB_LOCK:-}" ]; then flock -u 9; fi
        done
    done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$AB_OUT" <<'PY'
import json, pathlib, statistics, sys
rows = [json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).glob("*/row.json")]
keys = ["pub_p50", "pub_p99", "pub_p999", "e2e_p50", "e2e_p99", "e2e_p999", "broker_produce_p99_le", "rolls",
        "roll_wait_max_le", "fdatasyncs", "mb_s", "rss_mib", "broker_cpu_s", "uring_enters", "uring_ops", "load"]
for kind in sorted({r["kind"] for r in rows}):
    print(f"\n{kind}: medians A / B (B/A)")
    for k in keys:
        a = [r[k] for r in rows if r["kind"] == kind and r["label"] == "A"]
        b = [r[k] for r in rows if r["kind"] == kind and r["label"] == "B"]
        if not a or not b:
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        ratio = f"{mb / ma:.2f}" if ma else "-"
        runs = "/".join(f"{v:.3g}" for v in a) + " ; " + "/".join(f"{v:.3g}" for v in b)
        print(f"  {k:22s} {ma:10.3f} / {mb:10.3f}  ({ratio})   runs {runs}")
PY
echo "results in $AB_OUT"
