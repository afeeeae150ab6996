#!/usr/bin/env python3
"""Single-node partition creation, A/B: one `millrace serve` (num.shards=1 unless --shards,
tests/conftest.py's `Broker`) per binary, started once each; each round sends a CreateTopics of
--partitions partitions (replication factor 1) with confluent-kafka's AdminClient and measures
from the request to its answer and to the moment the broker's Metadata (v4, auto-creation off)
lists every partition. Rounds alternate the binaries (A, B, A, B...); medians at the end, with
the load average of each round. Wrap it in the bench lock:

    flock /work/wt/bench.lock target/test-venv/bin/python perf/create_partitions.py \
        --binary A=/tmp/main-millrace --binary B=target/release/millrace --rounds 5
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import conftest  # noqa: E402
import kafka_wire  # noqa: E402

ADMIN_TIMEOUT_S = 60
VISIBLE_TIMEOUT_S = 60
POLL_S = 0.01


def start_broker(binary, root, label, shards):
    conftest.BROKER_BINARY = Path(binary).resolve()  # read by Broker.start
    data_dir = Path(root) / label / "data"
    data_dir.mkdir(parents=True)
    broker = conftest.Broker(data_dir, data_dir.parent / "stderr.log", {"num.shards": shards})
    return broker.start()


def listed_at(bootstrap, topic, partitions, started):
    correlation_id = 0
    with kafka_wire.connect(bootstrap) as sock:
        while time.monotonic() < started + VISIBLE_TIMEOUT_S:
            correlation_id += 1
            error_code, count = kafka_wire.metadata_v4_partitions(
                sock, correlation_id, topic, allow_auto_create=False)
            if error_code == 0 and count == partitions:
                return time.monotonic() - started
            time.sleep(POLL_S)
    raise RuntimeError(f"{topic}: not listed within {VISIBLE_TIMEOUT_S}s")


def measure(broker, partitions, round_index):
    topic = f"bench-create-{round_index}"
    creator = AdminClient({"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"})
    started = time.monotonic()
    future = creator.create_topics(
        [NewTopic(topic, partitions, replication_factor=1)], request_timeout=ADMIN_TIMEOUT_S)[topic]
    future.result(timeout=ADMIN_TIMEOUT_S)
    answered = time.monotonic() - started
    listed = listed_at(broker.bootstrap, topic, partitions, started)
    return round(answered, 3), round(listed, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", required=True, help="LABEL=PATH, repeated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--keep", help="directory for the data dirs and stderr logs (else a temp dir)")
    args = parser.parse_args()
    binaries = [spec.split("=", 1) for spec in args.binary]
    root = args.keep or tempfile.mkdtemp(prefix="create-partitions-")
    brokers = {label: start_broker(path, root, label, args.shards) for label, path in binaries}
    results = {label: [] for label, _ in binaries}
    try:
        for round_index in range(args.rounds):
            for label, _ in binaries:
                load = os.getloadavg()[0]
                answered, listed = measure(brokers[label], args.partitions, round_index)
                results[label].append({"answered_s": answered, "listed_s": listed, "load": round(load, 1)})
                print(json.dumps({"round": round_index, "binary": label, **results[label][-1]}), flush=True)
    finally:
        for broker in brokers.values():
            broker.kill()
    for label, path in binaries:
        rounds = results[label]
        print(f"{label} ({path}): answered median {statistics.median(r['answered_s'] for r in rounds):.3f} s, "
              f"listed median {statistics.median(r['listed_s'] for r in rounds):.3f} s, "
              f"loads {[r['load'] for r in rounds]}  [{args.partitions} partitions, {args.shards} shard(s)]")
    print(f"data: {root}")


if __name__ == "__main__":
    main()
