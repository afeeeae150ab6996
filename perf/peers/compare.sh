#!/usr/bin/env bash
# millrace against Apache Kafka, side by side on this machine with the same clients: produce
# (1 KiB and 100 B, acks=all and acks=1, 1 and 16 partitions), catch-up consume, latency at a
# fixed rate, broker CPU-seconds per GB and RSS, each driven by `millrace bench` and by Kafka's
# kafka-producer-perf-test / kafka-consumer-perf-test. A benchmark, not part of the test suite.
#
#   bash perf/peers/compare.sh [--quick] [--runs N] [--only REGEX] [--lock FILE] [--out DIR] ...
#
# --quick is a smoke test (one short run per case, ~5 minutes); without it every case runs 3
# times per broker, alternating millrace / Kafka (about 40 minutes). --lock FILE (or BENCH_LOCK)
# flocks FILE around each round, so other benchmarks on a shared machine never overlap one.
# Results (runs.jsonl, summary.md with medians and ratios millrace / Kafka, the latency chart
# latency/compare.svg + .png) go to perf/results/peers-<date>/ unless --out is given.
# `python3 perf/peers/compare.py --help` lists every flag. Builds target/release/millrace if
# absent and resolves Kafka's jars with Maven (perf/peers/kafka.sh fetch).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x target/release/millrace ] || cargo build --release -q
perf/peers/kafka.sh fetch
exec python3 perf/peers/compare.py "$@"
