#!/usr/bin/env bash
# Catch-up consume, cold then warm, against the machine's bounds and the peers (Apache Kafka,
# Tansu), in one run (issue 14). Per round, in this order (the brokers rotate which goes first):
#   - bounds: O_DIRECT sequential read bandwidth (1 GiB, 1 MiB reads, one in flight) and loopback
#     bandwidth (one stream from a reused buffer), both by perf/read_options.py;
#   - millrace: one fresh broker; rdkafka-bench produces N x 1 KiB (acks=all) to one partition,
#     then consumes the whole topic READS times (warm: what the broker keeps of recent data in
#     its memory, as much as fits its room; since the room is sized by demand, 2026-12-07, a
#     fresh broker keeps 128 MiB and reads the rest from the disk, unless MILLRACE_OVERRIDES
#     has log.recent.bytes.per.shard.initial=-1), then restarts the broker (SIGTERM), drops the
#     kernel's page cache, and reads it all once more ("cold": from the disk alone);
#   - Apache Kafka (perf/peers/kafka.sh, one combined node, fresh data): the same (its warm
#     reads come from the page cache its buffered writes filled);
#   - Tansu (perf/peers/tansu.sh, its in-memory storage engine, fresh process): the same, with
#     no cold read (its records do not outlive the process).
# Dropping the page cache (cold reads) needs root; without it the cold read is skipped.
# Each line has the client's and the broker's CPU seconds and the broker's peak RSS (VmHWM), so
# the cost of a read can be placed on one side or the other. Medians per figure at the end.
# Usage: perf/catchup_cold_warm.sh [RECORDS=1000000] [READS=3] [ROUNDS=1]
#   env: RB_PORT (default: a free port), MILLRACE_BIN (default target/release/millrace),
#        MILLRACE_OVERRIDES (KEY=VALUE ..., broker settings, e.g. log.recent.bytes.per.shard.initial=-1),
#        PEERS (a space-separated list of "kafka" and "tansu"; default "kafka"; "none" for
#        none), KAFKA_PORT_BASE (Kafka's port; its controller
#        listens 100 above; default: the first free pair from 23092, below the ephemeral range),
#        FETCH_WAIT_MAX_MS (the consumer's fetch.wait.max.ms for every broker; default
#        librdkafka's 500. Tansu 0.6.0 holds every fetch for that long even when it has the
#        data, so a run with Tansu sets it low, e.g. 5: a broker with the data answers at once),
#        MAX_PARTITION_FETCH_BYTES (the consumer's max.partition.fetch.bytes; default
#        rdkafka-bench's 10 MiB; 1048576 is librdkafka's and Kafka's own default),
#        BENCH_LOCK (a lock file: every timed step runs under `flock`, e.g. /work/wt/bench.lock)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
records="${1:-1000000}"
reads="${2:-3}"
rounds="${3:-1}"
broker_bin="${MILLRACE_BIN:-$repo/target/release/millrace}"
# MILLRACE_OVERRIDES: KEY=VALUE pairs, space-separated, each passed to the broker as --override.
millrace_overrides=()
for kv in ${MILLRACE_OVERRIDES:-}; do millrace_overrides+=(--override "$kv"); done
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
tansu_port="${TANSU_PORT:-$((kafka_port + 3))}"
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

def peak_rss_mib():
    # The broker VmHWM, read once the phase has ended (its report line has arrived).
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0

for line in sys.stdin:
    if not line.startswith("{"):
        continue
    j = json.loads(line)
    rss_mib = peak_rss_mib()
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
        read_all "$name" "read$read" "$bootstrap" "$pid"
    done
}

# read_all NAME PHASE BOOTSTRAP PID: one consume of the whole topic.
read_all() {
    local wait=()
    if [ -n "${FETCH_WAIT_MAX_MS:-}" ]; then wait=(--fetch-wait-max-ms "$FETCH_WAIT_MAX_MS"); fi
    if [ -n "${MAX_PARTITION_FETCH_BYTES:-}" ]; then
        wait+=(--max-partition-fetch-bytes "$MAX_PARTITION_FETCH_BYTES")
    fi
    locked "$bench_bin" --bootstrap "$3" --topic catchup --records "$records" --size 1024 \
        --broker-pid "$4" "${wait[@]}" --mode consume | summary "$1" "$2" "$4"
}

# Empties the page cache (root only); false when it cannot.
drop_page_cache() {
    sync
    { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null
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
    BROKER_PORT="${RB_PORT:-}" start_broker "$broker_bin" --override http.listener= "${millrace_overrides[@]+"${millrace_overrides[@]}"}"
    run_workload millrace "$BOOTSTRAP" "$BROKER_PID"
    restart_broker "$broker_bin" --override http.listener= "${millrace_overrides[@]+"${millrace_overrides[@]}"}"
    if drop_page_cache; then read_all millrace cold "$BOOTSTRAP" "$BROKER_PID"; fi
)

run_tansu() (
    local dir
    dir="$(mktemp -d /tmp/catchup-tansu.XXXXXX)"
    trap '"$repo/perf/peers/tansu.sh" stop --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
    "$repo/perf/peers/tansu.sh" start --dir "$dir" --port "$tansu_port" --stop-with $$ >/dev/null
    run_workload tansu "127.0.0.1:$tansu_port" "$(cat "$dir"/tansu.pid)"
)

run_kafka() (
    local dir
    dir="$(mktemp -d /tmp/catchup-kafka.XXXXXX)"
    trap '"$repo/perf/peers/kafka.sh" stop --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
    "$repo/perf/peers/kafka.sh" start --fresh --dir "$dir" --port "$kafka_port" \
        --controller-port $((kafka_port + 100)) --stop-with $$ >/dev/null
    run_workload kafka "127.0.0.1:$kafka_port" "$(cat "$dir"/node-0/kafka.pid)"
    "$repo/perf/peers/kafka.sh" stop --dir "$dir" >/dev/null
    "$repo/perf/peers/kafka.sh" start --dir "$dir" --port "$kafka_port" \
        --controller-port $((kafka_port + 100)) --stop-with $$ >/dev/null
    if drop_page_cache; then
        read_all kafka cold "127.0.0.1:$kafka_port" "$(cat "$dir"/node-0/kafka.pid)"
    fi
)

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
brokers=(millrace)
for peer in $peers; do
    case "$peer" in
    kafka | tansu) brokers+=("$peer") ;;
    none) ;;
    *) echo "catchup_cold_warm.sh: unknown peer $peer (kafka, tansu or none)" >&2; exit 2 ;;
    esac
done
if [[ " $peers " == *" tansu "* ]]; then
    "$repo/perf/peers/tansu.sh" fetch
fi
for round in $(seq "$rounds"); do
    echo "--- round $round"
    bounds
    # Rotate who goes first, so that no broker always runs right after another's writeback.
    shift_by=$(((round - 1) % ${#brokers[@]}))
    for broker in "${brokers[@]:shift_by}" "${brokers[@]:0:shift_by}"; do
        "run_$broker"
    done
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
for broker in ("millrace", "kafka", "tansu"):
    if rss.get(broker):
        print(f"  {broker:8s} peak RSS {max(rss[broker]):.0f} MiB")
direct = median.get(("bounds", "direct_read_only"))
loop = median.get(("bounds", "loopback"))
cold = median.get(("millrace", "cold"))
warm = [median[k] for k in median if k[0] == "millrace" and k[1].startswith("read")]
print("ratios (of medians):")
if direct and cold:
    print(f"  millrace cold / O_DIRECT read   {cold / direct:.2f}  (aim >= 0.8)")
if loop and warm:
    print(f"  millrace warm / loopback        {statistics.median(warm) / loop:.2f}  (aim >= 0.8)")
for peer in ("kafka", "tansu"):
    for phase in ["produce"] + [f"read{i}" for i in range(1, 10)] + ["cold"]:
        if (peer, phase) in median and ("millrace", phase) in median:
            ratio = median[("millrace", phase)] / median[(peer, phase)]
            print(f"  millrace / {peer:5s} {phase:8s}      {ratio:.2f}  (aim >= 1.0)")
EOF
rm -f "$results"
