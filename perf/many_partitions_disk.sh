#!/usr/bin/env bash
# Disk use, throughput and memory with many partitions (issue 10 item 13). A fresh broker per
# partition count; `millrace bench` produces 1 KiB records at max rate (acks=all, no consumer)
# to one topic of N partitions for DURATION; then the data written (the segments' logical sizes),
# the blocks allocated under the log directory (du), the broker's RSS now and at its peak, and the
# descriptors it holds (/proc/PID/fd); then again after IDLE_S without writes (idle partitions
# give back their preallocation). The broker's open-file budget line is printed at the start.
# A guard stops the broker if the disk's free space falls under FREE_GB_MIN (shared machine).
# Usage: perf/many_partitions_disk.sh BIN DURATION COUNT... (e.g. BIN 10s 1 1000 10000)
#   env: IDLE_S (default 15), FREE_GB_MIN (default 15)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$1"
duration="$2"
shift 2
idle_s="${IDLE_S:-15}"
free_gb_min="${FREE_GB_MIN:-15}"
guard_poll_s=1

source "$repo/perf/broker.sh"

free_bytes() { df --output=avail -B1 "$1" | tail -1; }

guard() {
    while kill -0 "$BROKER_PID" 2>/dev/null; do
        if [ "$(free_bytes "$BROKER_DATA")" -lt $((free_gb_min << 30)) ]; then
            echo "guard: under $free_gb_min GB free, stopping the broker" >&2
            kill -9 "$BROKER_PID"
            return
        fi
        sleep "$guard_poll_s"
    done
}

measure() {
    python3 - "$1" "$BROKER_DATA/log" "$BROKER_PID" <<'PY'
import os, sys
label, log, pid = sys.argv[1], sys.argv[2], sys.argv[3]
data = allocated = 0
for root, _, files in os.walk(log):
    for name in files:
        st = os.stat(os.path.join(root, name))
        allocated += st.st_blocks * 512
        data += st.st_size if name.endswith(".log") else 0
status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
rss, hwm = (int(status[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM"))
fds = len(os.listdir(f"/proc/{pid}/fd"))
print(f"  {label:6s} data {data / 1e9:6.2f} GB, allocated {allocated / 1e9:6.2f} GB "
      f"({allocated / max(data, 1):.2f}x data), RSS {rss / 1e6:5.0f} MB, peak RSS {hwm / 1e6:5.0f} MB, "
      f"{fds} descriptors")
PY
}

# Creates the topic up front: 10,000 partitions take longer than the bench's CreateTopics wait.
create_topic() {
    "$repo/target/test-venv/bin/python" - "$BOOTSTRAP" "$1" "$2" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap})
futures = admin.create_topics([NewTopic(topic, count, 1)], operation_timeout=600, request_timeout=600)
futures[topic].result()
PY
}

for count in "$@"; do
    start_broker "$bin" --override http.listener=
    guard &
    guard_pid=$!
    echo "$count partition(s), $duration at max rate, free $(($(free_bytes "$BROKER_DATA") >> 30)) GB"
    grep -o "open files: .*" "$BROKER_DATA/broker.stderr" | head -1 | sed 's/^/  /' || true
    created=$(date +%s%N)
    create_topic "many-$count-0" "$count"
    echo "  topic created in $((($(date +%s%N) - created) / 1000000)) ms"
    "$bin" bench --bootstrap "$BOOTSTRAP" --topic-prefix "many-$count" \
        --partitions-per-topic "$count" --consumers-per-topic 0 --acks all \
        --duration "$duration" --output "$BROKER_DATA/bench" | grep -E "msgs/s|MB/s|error" | head -3
    measure "after"
    sleep "$idle_s"
    measure "idle"
    kill "$guard_pid" 2>/dev/null || true
    stop_broker
    trap - EXIT
    BROKER_PID=""
    BROKER_DATA=""
done
