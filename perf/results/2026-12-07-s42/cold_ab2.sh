#!/bin/bash
# Cold/warm catch-up A/B: main (67a224b) vs s42 (read-ahead), order alternating per round,
# PEERS=none; FETCH=max.partition.fetch.bytes.
cd /work/wt/s42
for round in 1 2 3 4; do
  order="main s42"; [ $((round % 2)) = 0 ] && order="s42 main"
  for name in $order; do
    echo "=== round $round $name fetch $FETCH"
    MAX_PARTITION_FETCH_BYTES=$FETCH MILLRACE_BIN=/work/notes/s42/millrace-$name PEERS=none bash perf/catchup_cold_warm.sh 1000000 1 1 2>&1 | grep -E "^(bounds|millrace) "
  done
done
