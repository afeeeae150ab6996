#!/usr/bin/env python3
"""Offset commit rate and latency with many groups committing at once.

--groups threads, each a confluent-kafka consumer of its own group (no subscription: simple
commits, generation -1), commit synchronously back to back for --seconds (each commit names
--partitions partitions of one topic). Every commit is durable (fdatasync) before it is
answered. Prints one JSON line: commits/s over all groups, p50/p99 commit latency in ms.

With the offsets partitions (issue 10 defect 3), groups in different offsets partitions are
written and synced separately; before, all the groups of one shard shared one write+fdatasync.
This measures what that costs.

    python3 perf/offset_commits.py --bootstrap 127.0.0.1:19620 --groups 16 --seconds 10
"""
import argparse
import json
import threading
import time
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ADMIN_TIMEOUT_S = 30


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


def committer(bootstrap, topic, partitions, seconds, latencies, start):
    group = f"commits-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "broker.address.family": "v4"})
    offset = 0
    # One commit first: finds the coordinator, outside the measured window.
    consumer.commit(offsets=[TopicPartition(topic, p, 0) for p in range(partitions)], asynchronous=False)
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        offset += 1
        sent = time.monotonic()
        consumer.commit(offsets=[TopicPartition(topic, p, offset) for p in range(partitions)], asynchronous=False)
        latencies.append((time.monotonic() - sent) * 1000.0)
    consumer.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    topic = f"commits-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic].result(timeout=ADMIN_TIMEOUT_S)
    start = threading.Event()
    latencies = []
    threads = [threading.Thread(target=committer, args=(args.bootstrap, topic, args.partitions, args.seconds,
                                                        latencies, start)) for _ in range(args.groups)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    start.set()
    for thread in threads:
        thread.join()
    print(json.dumps({
        "groups": args.groups,
        "commits_per_s": round(len(latencies) / args.seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }))


if __name__ == "__main__":
    main()
