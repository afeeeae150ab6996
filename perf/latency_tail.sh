#!/usr/bin/env bash
# Where the latency tail comes from (issue 14 §2): one run puts side by side
#   - the platform's floor: how late a 0.5 ms sleep wakes (p50/p99/p99.9), on the client's CPU;
#   - what the client sees: `millrace bench` at a fixed rate (1 KiB, 4 partitions), publish and
#     end-to-end latency;
#   - what the broker saw: its own Produce and Fetch request-latency histograms and fdatasync
#     histogram (/metrics, the difference over the run), as bucket-bounded percentiles;
#   - where the threads ran: each broker and client thread's allowed CPUs.
# The broker runs with num.shards=1 under `taskset -c $BROKER_CPU`, the client with one
# executor thread under `taskset -c $CLIENT_CPU`, so their placement can be checked and varied.
# The client's chart (chart.svg, and chart.png when rsvg-convert exists) is kept in OUT.
# Usage: perf/latency_tail.sh [RATE_MSGS=51200] [ACKS=1] [DURATION=10s] [OUT=mktemp]
#   env: MILLRACE_BIN (target/release/millrace), BROKER_CPU (1), CLIENT_CPU (0),
#        BENCH_LOCK (a lock file to hold around the timed part)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
rate="${1:-51200}"
acks="${2:-1}"
duration="${3:-10s}"
out="${4:-$(mktemp -d /tmp/latency-tail.XXXXXX)}"
mkdir -p "$out"
bin="${MILLRACE_BIN:-$repo/target/release/millrace}"
broker_cpu="${BROKER_CPU:-1}"
client_cpu="${CLIENT_CPU:-0}"
http_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

pinned="$out/millrace-pinned"
printf '#!/bin/sh\nexec taskset -c %s %s "$@"\n' "$broker_cpu" "$bin" >"$pinned"
chmod +x "$pinned"
source "$repo/perf/broker.sh"
start_broker "$pinned" --override num.shards=1 --override "http.listener=127.0.0.1:$http_port"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/ready" >/dev/null && break; sleep 0.1; done

threads() {
    for task in /proc/"$1"/task/*; do
        echo "$(cat "$task/comm") cpus $(sed -n 's/^Cpus_allowed_list:\s*//p' "$task/status")"
    done | sort | uniq -c | sed "s/^/  $2 /"
}

floor() {
    taskset -c "$client_cpu" python3 -c '
import time
late = []
for _ in range(4000):
    t = time.perf_counter_ns()
    time.sleep(0.0005)
    late.append((time.perf_counter_ns() - t) / 1e6 - 0.5)
late.sort()
pick = lambda q: late[min(len(late) - 1, int(q * len(late)))]
print(f"platform  0.5 ms sleep overshoot ms: p50 {pick(0.5):.3f} p99 {pick(0.99):.3f} p99.9 {pick(0.999):.3f}")
'
}

curl -sf "http://127.0.0.1:$http_port/metrics" >"$out/metrics.before"
run() {
    floor
    taskset -c "$client_cpu" "$bin" bench --bootstrap "$BOOTSTRAP" --rate "$rate" --acks "$acks" \
        --partitions-per-topic 4 --producers-per-topic 1 --consumers-per-topic 1 \
        --duration "$duration" --warmup 2s --threads 1 --output "$out" >"$out/bench.log" 2>&1 &
    local bench_pid=$!
    sleep 3
    threads "$bench_pid" client
    threads "$BROKER_PID" broker
    wait "$bench_pid"
    floor
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${BENCH_LOCK:-}" ]; then exec 9>>"$BENCH_LOCK" && flock 9; fi
run
if [ -n "${BENCH_LOCK:-}" ]; then flock -u 9; fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
curl -sf "http://127.0.0.1:$http_port/metrics" >"$out/metrics.after"

python3 - "$out" <<'EOF'
import json, re, sys
out = sys.argv[1]
result = json.load(open(f"{out}/result.json"))
for kind in ("publish_latency_ms", "e2e_latency_ms"):
    h = result[kind]
    print(f"client    {kind[:-11]:8s} ms: p50 {h['p50']:.2f} p99 {h['p99']:.2f} p99.9 {h['p99.9']:.2f} max {h['max']:.2f}")

def buckets(path, name, api=None):
    counts = {}
    for line in open(path):
        if not line.startswith(name + "_bucket"):
            continue
        if api and f'api="{api}"' not in line:
            continue
        le = re.search(r'le="([^"]+)"', line).group(1)
        counts[le] = counts.get(le, 0) + float(line.rsplit(" ", 1)[1])
    return counts

def percentiles(name, api=None):
    before = buckets(f"{out}/metrics.before", name, api)
    after = buckets(f"{out}/metrics.after", name, api)
    cumulative = sorted(((float("inf") if le == "+Inf" else float(le), after[le] - before.get(le, 0))
                         for le in after))
    total = cumulative[-1][1] if cumulative else 0
    if not total:
        return f"no samples"
    def at(q):
        return next(le for le, c in cumulative if c >= q * total) * 1000
    return f"p50 <= {at(0.5):g} p99 <= {at(0.99):g} p99.9 <= {at(0.999):g} ms ({int(total)} samples)"

for api in ("Produce", "Fetch"):
    print(f"broker    {api:8s} request: {percentiles('millrace_request_latency_seconds', api)}")
print(f"broker    fdatasync        : {percentiles('millrace_fsync_latency_seconds')}")
EOF
if command -v rsvg-convert >/dev/null && [ -f "$out/chart.svg" ]; then
    rsvg-convert -w 1400 "$out/chart.svg" -o "$out/chart.png"
fi
echo "output: $out"
