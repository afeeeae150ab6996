#!/bin/bash
# One cold read (issue 14 §1 read-ahead experiment, 2026-12-07), with the metrics endpoint on:
# 1,000,000 x 1 KiB produced (acks=all), the broker restarted, the page cache dropped (root),
# one consume from the start, then the fetch and read-ahead counters.
#   cold_read_once.sh BIN
#   env: FETCH_BYTES (the consumer's max.partition.fetch.bytes; rdkafka-bench's 10 MiB if unset),
#        PERF_OUT (perf record -g the broker over the read into this file).
# The run used paths of that session's machine (/work/main, /work/wt/s42); adjust them.
cd /work/main
source perf/broker.sh
bin=$1
hp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_broker "$bin" --override http.listener=127.0.0.1:$hp
B=/work/wt/s42/perf/rdkafka-bench/target/release/rdkafka-bench
$B --bootstrap $BOOTSTRAP --topic catchup --records 1000000 --size 1024 --broker-pid $BROKER_PID --acks all --mode produce | tail -1
restart_broker "$bin" --override http.listener=127.0.0.1:$hp
sync; echo 3 > /proc/sys/vm/drop_caches
fetch=()
if [ -n "${FETCH_BYTES:-}" ]; then fetch=(--max-partition-fetch-bytes "$FETCH_BYTES"); fi
if [ -n "${PERF_OUT:-}" ]; then
    (perf record -F 2999 -g -o "$PERF_OUT" -p $BROKER_PID -- sleep 4 &)
    sleep 0.3
fi
$B --bootstrap $BOOTSTRAP --topic catchup --records 1000000 --size 1024 --broker-pid $BROKER_PID "${fetch[@]}" --mode consume | tail -1
curl -s 127.0.0.1:$hp/metrics | grep -E "^millrace_(read_ahead|response_bytes|requests_total\{.*api=\"Fetch)" | head
