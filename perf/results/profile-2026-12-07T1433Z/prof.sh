#!/usr/bin/env bash
# Profile one millrace broker (2 shards) under kafka-producer-perf-test into 16 partitions.
set -euo pipefail
B=${B:-/work/ci-s46/target/release/millrace}
D=${D:-/tmp/prof}
PORT=${PORT:-19092}
FREQ=${FREQ:-999}
CG=${CG:--g}
rm -rf $D; mkdir -p $D
$B serve --override log.dirs=$D/data --override http.listener=127.0.0.1:19644 --override listeners=PLAINTEXT://127.0.0.1:$PORT > $D/broker.log 2>&1 &
PID=$!
trap "kill $PID 2>/dev/null || true" EXIT
for i in $(seq 1 50); do grep -q "millrace ready" $D/broker.log && break; sleep 0.2; done
$B topic create p16 --partitions ${PARTS:-16} --bootstrap 127.0.0.1:$PORT
cd /work/main
bash perf/peers/kafka.sh tool org.apache.kafka.tools.ProducerPerformance --bootstrap-server 127.0.0.1:$PORT --topic p16 --num-records ${RECORDS:-3000000} --record-size 1024 --throughput -1 --command-property acks=all > $D/producer.txt 2>&1 &
PP=$!
sleep 8
perf record ${PERF_ARGS:--F $FREQ $CG -p $PID} -o $D/perf.data -- sleep ${SECS:-15} 2> $D/perf-record.txt
wait $PP || true
curl -s 127.0.0.1:19644/metrics > $D/metrics.txt || true
tail -2 $D/producer.txt
kill $PID; wait $PID || true
