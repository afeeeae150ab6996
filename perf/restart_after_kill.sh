#!/usr/bin/env bash
# Restart time after kill -9 (issue 10 item 14). One broker (build NEW) fills PARTITIONS
# partitions of one topic with ~TARGET_GB of 1 KiB records (acks=1, max rate), waits until
# its recovery points are recorded (log.flush.offset.checkpoint.interval.ms=1000), and is
# killed with SIGKILL. Then, ROUNDS times, NEW and OLD (a build without recovery points, which
# CRC-checks every active segment whole) alternate on that same data directory: each is started,
# timed until it answers an ApiVersions request (it opens every partition before serving), and
# killed with SIGKILL again. Neither writes past the recovery points, so every start finds the
# same data.
# Usage: perf/restart_after_kill.sh NEW_BIN OLD_BIN [TARGET_GB=3.8] [PARTITIONS=4] [ROUNDS=5]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
new_bin="$1"
old_bin="$2"
target_gb="${3:-3.8}"
partitions="${4:-4}"
rounds="${5:-5}"
ready_poll_s=0.01
ready_tries=6000

source "$repo/perf/broker.sh"
start_broker "$new_bin" --override log.flush.offset.checkpoint.interval.ms=1000
port="${BOOTSTRAP##*:}"
target_bytes=$(python3 -c "print(int($target_gb * 1e9))")
while [ "$(du -sb "$BROKER_DATA/log" | cut -f1)" -lt "$target_bytes" ]; do
    "$new_bin" bench --bootstrap "$BOOTSTRAP" --topic-prefix restart \
        --partitions-per-topic "$partitions" --consumers-per-topic 0 --acks 1 \
        --duration 5s --output "$BROKER_DATA/bench" >/dev/null
done
sleep 5 # recovery points of every partition: at most one interval plus a pass
echo "data: $(du -sb "$BROKER_DATA/log" | cut -f1) bytes; active segments:"
for dir in "$BROKER_DATA"/log/restart-0-*; do
    ls -l "$dir"/*.log | tail -1 | awk '{print "  " $5, $9}'
done
cat "$BROKER_DATA/log/recovery-point-offset-checkpoint"
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true

# Starts BIN on the data directory; prints the ms until it answers ApiVersions, then kills it (-9).
time_start() {
    local bin="$1" started ended
    started=$(date +%s%N)
    "$bin" serve --override "listeners=PLAINTEXT://127.0.0.1:$port" \
        --override "advertised.listeners=PLAINTEXT://127.0.0.1:$port" \
        --override "log.dirs=$BROKER_DATA/log" --override http.listener= \
        2>>"$BROKER_DATA/restarts.stderr" &
    BROKER_PID=$!
    # Ready means answering: the listener is bound before the partitions open (connections made
    # meanwhile wait in the backlog), so an accepted connection alone proves nothing.
    local answered=0
    python3 - "$port" "$ready_poll_s" "$ready_tries" <<'PY' || answered=$?
import socket, struct, sys, time
port, poll_s, tries = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
request = struct.pack(">hhih", 18, 0, 1, -1)  # ApiVersions v0, correlation id 1, no client id
for _ in range(tries):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(struct.pack(">i", len(request)) + request)
            if len(s.recv(8)) >= 8:
                sys.exit(0)
    except OSError:
        time.sleep(poll_s)
sys.exit(1)
PY
    ended=$(date +%s%N)
    kill -9 "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
    if [ "$answered" -ne 0 ]; then
        echo "FAILED (no ApiVersions answer)"
        return
    fi
    echo $(((ended - started) / 1000000))
}

for round in $(seq "$rounds"); do
    echo "round $round: new $(time_start "$new_bin") ms, old $(time_start "$old_bin") ms"
done
grep -o "partition(s) open in [0-9]* ms, [0-9]* bytes checked.*" "$BROKER_DATA/restarts.stderr" | sort | uniq -c
