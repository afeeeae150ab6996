#!/usr/bin/env bash
# RSS and recent-batch gauge at N partitions (perf/many_partitions_disk.sh's workload: a fresh
# broker, 2 shards by default on this 2-vCPU machine, topic created up front, `millrace bench
# --partitions-per-topic N --consumers-per-topic 0 --acks all --duration DURATION`, 1 KiB records,
# max rate), sampled right after the bench and again after IDLE_S. With RESTART=1 the broker is
# then stopped (SIGTERM, a clean shutdown) and started again on the same data, and sampled once
# it answers on its port and again after IDLE_S: what loading N partitions holds in memory.
# Usage: perf/many_partitions_rss.sh BIN LABEL DURATION COUNT   (env: IDLE_S, default 15; RESTART)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$1"; label="$2"; duration="$3"; count="$4"
idle_s="${IDLE_S:-15}"
source "$repo/perf/broker.sh"
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_broker "$bin" --override "http.listener=127.0.0.1:$http_port"
"$repo/target/test-venv/bin/python" - "$BOOTSTRAP" "many-$count-0" "$count" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap})
futures = admin.create_topics([NewTopic(topic, count, 1)], operation_timeout=600, request_timeout=600)
futures[topic].result()
PY
sample() {
    local when="$1"
    local rss hwm gauge
    rss=$(awk '/^Rss:/ {print $2}' "/proc/$BROKER_PID/smaps_rollup")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$BROKER_PID/status")
    gauge=$(curl -s "http://127.0.0.1:$http_port/metrics" | grep '^millrace_recent_batches_bytes' \
        | awk '{printf "%s%.0f", sep, $2/1e6; sep="/"}')
    echo "$label $count $when: RSS $((rss / 1000)) MB (peak $((hwm / 1000)) MB), recent_batches MB per shard $gauge, load $(cut -d' ' -f1 /proc/loadavg)"
}
bench_out=$("$bin" bench --bootstrap "$BOOTSTRAP" --topic-prefix "many-$count" \
    --partitions-per-topic "$count" --consumers-per-topic 0 --acks all \
    --duration "$duration" --output "$BROKER_DATA/bench" | grep -E "MB/s" | head -1 || true)
echo "$label $count bench: $bench_out"
sample after
sleep "$idle_s"
sample idle
if [ "${RESTART:-0}" = 1 ]; then
    started=$SECONDS
    restart_broker "$bin" --override "http.listener=127.0.0.1:$http_port"
    echo "$label $count restart: answering after $((SECONDS - started)) s"
    sample restarted
    sleep "$idle_s"
    sample "restarted+idle"
fi
