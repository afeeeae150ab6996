#!/usr/bin/env bash
# The cost of the recent-data room's first fill: a fresh one-shard broker per run, 5 s of
# max-rate produce (acks=all, 1 KiB records, 1 partition, no consumer), and what the broker
# spent on it: its minor page faults and CPU seconds (/proc/PID/stat around the run) and its
# peak RSS. Variants run in rotating order each round; medians at the end.
#
#   perf/room_first_fill.sh ROUNDS LABEL=BIN[+KEY=VALUE...] ...
# e.g. perf/room_first_fill.sh 5 main=target/release/millrace \
#        small=target/release/millrace+log.recent.bytes.per.shard.max=536870912
# The client is CLIENT (default target/release/millrace). DURATION (default 5s) is the run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="$1"
shift
CLIENT="${CLIENT:-target/release/millrace}"
OUT="${OUT:-$(mktemp -d /tmp/millrace-fill.XXXXXX)}"
mkdir -p "$OUT"
source perf/broker.sh
TICKS_PER_S=$(getconf CLK_TCK)

run_one() { # label spec round
    local label="$1" spec="$2" round="$3" bin overrides=() f0 u0 s0 f1 u1 s1
    IFS=+ read -r -a parts <<<"$spec"
    bin="${parts[0]}"
    for kv in "${parts[@]:1}"; do overrides+=(--override "$kv"); done
    start_broker "$bin" --override num.shards=1 "${overrides[@]}"
    read -r f0 u0 s0 < <(awk '{print $10, $14, $15}' "/proc/$BROKER_PID/stat")
    "$CLIENT" bench --bootstrap "$BOOTSTRAP" --name "$label" --partitions-per-topic 1 \
        --consumers-per-topic 0 --duration "${DURATION:-5s}" --output "$OUT/$label-$round" >/dev/null
    read -r f1 u1 s1 < <(awk '{print $10, $14, $15}' "/proc/$BROKER_PID/stat")
    local rss_mib
    rss_mib=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$BROKER_PID/status")
    stop_broker
    BROKER_PID=""
    BROKER_DATA=""
    python3 - "$OUT/$label-$round/result.json" "$label" "$round" "$((f1 - f0))" \
        "$((u1 + s1 - u0 - s0))" "$TICKS_PER_S" "$rss_mib" <<'PY'
import json, sys
rate = json.load(open(sys.argv[1]))["produce"]["msgs_per_s"]
label, round_, faults, ticks, hz, rss = sys.argv[2:]
print(label, round_, round(rate), faults, round(int(ticks) / int(hz), 2), rss)
PY
}

echo "label round msgs_per_s minor_faults cpu_s peak_rss_mib" | tee "$OUT/runs.txt"
specs=("$@")
for round in $(seq "$ROUNDS"); do
    for i in "${!specs[@]}"; do
        # Rotate which variant goes first in each round.
        spec="${specs[$(((i + round) % ${#specs[@]}))]}"
        run_one "${spec%%=*}" "${spec#*=}" "$round" | tee -a "$OUT/runs.txt"
    done
done
python3 - "$OUT/runs.txt" <<'PY'
import collections, statistics, sys
rows = [line.split() for line in open(sys.argv[1]).read().splitlines()[1:]]
by_label = collections.defaultdict(list)
for row in rows:
    by_label[row[0]].append(row)
for label, runs in by_label.items():
    median = lambda column: statistics.median(float(run[column]) for run in runs)
    print(f"{label:12} median msgs/s {median(2):>10.0f}  minor faults {median(3):>9.0f}  "
          f"cpu s {median(4):.2f}  peak RSS MiB {median(5):.0f}  ({len(runs)} runs)")
PY
echo "results in $OUT"
