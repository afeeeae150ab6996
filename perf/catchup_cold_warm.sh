#!/usr/bin/env bash
# Catch-up consume, cold then warm, against the machine's bounds and Apache Kafka, in one run
# (issue 14). Per round, in this order (the brokers alternate which goes first):
#   - bounds: O_DIRECT sequential read bandwidth (1 GiB, 1 MiB reads, one in flight) and loopback
#     bandwidth (one stream from a reused buffer), both by perf/read_options.py;
#   - millrace: one fresh broker; rdkafka-bench produces N x 1 KiB (acks=all) to one partition,
#     then consumes the whole topic READS times. The first read finds the page cache empty
#     (appends are O_DIRECT); later reads find whatever the first one left there;
#   - Apache Kafka (perf/peers/kafka.sh, one combined node, fresh data): the same.
# Each line has the client's and the broker's CPU seconds and the broker's peak RSS (VmHWM), so
# the cost of a read can be placed on one side or the other. Medians per figure at the end.
# Usage: perf/catchup_cold_warm.sh [RECORDS=1000000] [READS=3] [ROUNDS=1]
#   env: RB_PORT (default: a free port), MILLRACE_BIN (default target/release/millrace),
#        PEERS ("kafka", the default, or "none"), KAFKA_PORT_BASE (Kafka's port; its controller
#        listens 100 above; default: the first free pair from 23092, below the ephemeral range),
#        BENCH_LOCK (a lock file: every timed step runs under `flock`, e.g. /work/wt/bench.lock)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
records="${1:-1000000}"
reads="${2:-3}"
rounds="${3:-1}"
broker_bin="${MILLRACE_BIN:-$repo/target/release/millrace}"
bench_bin="$repo/perf/rdkafka-bench/target/release/rdkafka-bench"
peers="${PEERS:-kafka}"
kafka_port="${KAFKA_PORT_BASE:-$(python3 -c '
import socket
def free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
print(next(p for p in range(23092, 32000, 7) if free(p) and free(p + 100)))
')}"
results="$(mktemp /tmp/catchup-results.XXXXXX)"

[ -x "$bench_bin" ] || (cd "$repo/perf/rdkafka-bench" && cargo build --release)

locked() {
    if [ -n "${BENCH_LOCK:-}" ]; then flock "$BENCH_LOCK" "$@"; else "$@"; fi
}

# Prints one line per JSON report and appends "<broker> <phase> <MB/s> <rss MiB>" to $results.
summary() {
    python3 -c '
import json, sys
broker, phase, pid, out = sys.argv[1:5]
rss_mib = 0.0
try:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            rss_mib = int(line.split()[1]) / 1024
except OSError:
    pass
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    j = json.loads(line)
    mb, client, cpu = j["mb_s"], j["client_cpu_s"], j["broker_cpu_s"]
    print(f"{broker:8s} {phase:8s} {mb:7.1f} MB/s  client CPU {client:.2f} s  "
          f"broker CPU {cpu:.2f} s  broker peak RSS {rss_mib:.0f} MiB", flush=True)
    with open(out, "a") as f:
        f.write(f"{broker} {phase} {mb} {rss_mib}\n")
' "$1" "$2" "$3" "$results"
}

# run_workload NAME BOOTSTRAP PID: produce, then READS reads from the beginning.
run_workload() {
    local name="$1" bootstrap="$2" pid="$3"
    local common=(--bootstrap "$bootstrap" --topic catchup --records "$records" --size 1024
        --broker-pid "$pid")
    locked "$bench_bin" "${common[@]}" --acks all --mode produce | summary "$name" produce "$pid"
    for read in $(seq "$reads"); do
        locked "$bench_bin" "${common[@]}" --mode consume | summary "$name" "read$read" "$pid"
    done
}

bounds() {
    locked python3 "$repo/perf/read_options.py" 1 1024 /tmp/catchup-bounds.bin \
        direct_read_only,loopback | grep '^round' | while read -r _ _ mode mb _; do
        echo "bounds   $mode $mb MB/s"
        echo "bounds $mode $mb 0" >>"$results"
    done
}

run_millrace() (
    source "$repo/perf/broker.sh"
    cd "$repo"
    BROKER_PORT="${RB_PORT:-}" start_broker "$broker_bin" --override http.listener=
    run_workload millrace "$BOOTSTRAP" "$BROKER_PID"
    if command -v fincore >/dev/null; then fincore "$BROKER_DATA"/log/catchup-0/*.log | tail -3; fi
)

run_kafka() (
    local dir
    dir="$(mktemp -d /tmp/catchup-kafka.XXXXXX)"
    trap '"$repo/perf/peers/kafka.sh" stop --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
    "$repo/perf/peers/kafka.sh" start --fresh --dir "$dir" --port "$kafka_port" \
        --controller-port $((kafka_port + 100)) --stop-with $$ >/dev/null
    run_workload kafka "127.0.0.1:$kafka_port" "$(cat "$dir"/node-0/kafka.pid)"
)

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    echo "--- round $round"
    bounds
    if [ "$peers" = kafka ] && [ $((round % 2)) -eq 0 ]; then
        run_kafka
        run_millrace
    else
        run_millrace
        if [ "$peers" = kafka ]; then run_kafka; fi
    fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" <<'EOF'
import statistics, sys
from collections import defaultdict
figures, rss = defaultdict(list), defaultdict(list)
for line in open(sys.argv[1]):
    broker, phase, mb, rss_mib = line.split()
    figures[(broker, phase)].append(float(mb))
    rss[broker].append(float(rss_mib))
median = {key: statistics.median(values) for key, values in figures.items()}
print("medians (MB/s):")
for (broker, phase), value in sorted(median.items()):
    print(f"  {broker:8s} {phase:16s} {value:7.1f}  ({len(figures[(broker, phase)])} runs)")
for broker in ("millrace", "kafka"):
    if rss.get(broker):
        print(f"  {broker:8s} peak RSS {max(rss[broker]):.0f} MiB")
direct = median.get(("bounds", "direct_read_only"))
loop = median.get(("bounds", "loopback"))
cold = median.get(("millrace", "read1"))
warm = [median[k] for k in median if k[0] == "millrace" and k[1].startswith("read") and k[1] != "read1"]
print("ratios (of medians):")
if direct and cold:
    print(f"  millrace cold / O_DIRECT read   {cold / direct:.2f}  (aim >= 0.8)")
if loop and warm:
    print(f"  millrace warm / loopback        {statistics.median(warm) / loop:.2f}  (aim >= 0.8)")
for phase in ["produce"] + [f"read{i}" for i in range(1, 10)]:
    if ("kafka", phase) in median and ("millrace", phase) in median:
        ratio = median[("millrace", phase)] / median[("kafka", phase)]
        print(f"  millrace / kafka {phase:8s}      {ratio:.2f}  (aim >= 1.0)")
EOF
rm -f "$results"
