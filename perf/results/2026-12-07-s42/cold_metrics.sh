#!/bin/bash
# One cold read with the metrics endpoint on: how many regions were sent from a chunk read ahead.
cd /work/main
source perf/broker.sh
bin=$1
hp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_broker "$bin" --override http.listener=127.0.0.1:$hp
B=perf/rdkafka-bench/target/release/rdkafka-bench
$B --bootstrap $BOOTSTRAP --topic catchup --records 1000000 --size 1024 --broker-pid $BROKER_PID --acks all --mode produce | tail -1
restart_broker "$bin" --override http.listener=127.0.0.1:$hp
sync; echo 3 > /proc/sys/vm/drop_caches
$B --bootstrap $BOOTSTRAP --topic catchup --records 1000000 --size 1024 --broker-pid $BROKER_PID --mode consume | tail -1
curl -s 127.0.0.1:$hp/metrics | grep -E "^millrace_(read_ahead|response_bytes|requests_total\{.*api=\"Fetch)" | head
