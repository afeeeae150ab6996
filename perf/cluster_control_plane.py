#!/usr/bin/env python3
"""The control plane of a 3-broker millrace cluster (issue 12's two benchmarks), on loopback,
each broker a `millrace serve FILE` with num.shards=1 (tests/cluster_fixture.py's files):

- create: a CreateTopics of --partitions partitions (replication factor 1) sent to broker 1;
  measured from the request to its answer, and to the moment every broker's Metadata lists all
  the partitions (each broker polled by its own thread every --poll-ms, auto-creation off).
- failover: kill -9 of the Raft leader (the active controller, found with DescribeQuorum), then
  CreateTopics of a new 1-partition topic retried against a survivor (a new admin client each
  try, --retry-ms apart) until it succeeds; measured from the kill to that answer. The killed
  node is restarted and the cluster waited for before the next round.

Rounds alternate create and failover; medians at the end, with the load average before and
after. Wrap it in the bench lock:

    flock /work/wt/bench.lock target/test-venv/bin/python perf/cluster_control_plane.py --rounds 5
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import kafka_wire  # noqa: E402
from cluster_fixture import Cluster  # noqa: E402
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers  # noqa: E402

BROKERS = 3
ADMIN_TIMEOUT_S = 30
VISIBLE_TIMEOUT_S = 60
FAILOVER_TIMEOUT_S = 60


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})


def load_average():
    return os.getloadavg()[0]


def wait_listed(bootstrap, topic, partitions, started, results, node_id, poll_s):
    """Polls one broker's Metadata (v4, auto-creation off: a poll must not create the topic
    first) on one connection until it lists every partition of the topic."""
    deadline = started + VISIBLE_TIMEOUT_S
    correlation_id = 0
    with kafka_wire.connect(bootstrap) as sock:
        while time.monotonic() < deadline:
            correlation_id += 1
            error_code, count = kafka_wire.metadata_v4_partitions(
                sock, correlation_id, topic, allow_auto_create=False)
            if error_code == 0 and count == partitions:
                results[node_id] = time.monotonic() - started
                return
            time.sleep(poll_s)
    results[node_id] = None


def measure_create(cluster, partitions, round_index, poll_s):
    topic = f"bench-create-{round_index}-{int(time.time())}"
    seen = {}
    started = time.monotonic()
    pollers = [threading.Thread(target=wait_listed, args=(cluster.node(i).bootstrap, topic, partitions,
                                                          started, seen, i, poll_s))
               for i in cluster.nodes]
    creator = admin(cluster.node(1).bootstrap)  # kept: a collected client cancels its futures
    future = creator.create_topics(
        [NewTopic(topic, partitions, replication_factor=1)], request_timeout=ADMIN_TIMEOUT_S)[topic]
    for poller in pollers:
        poller.start()
    future.result(timeout=ADMIN_TIMEOUT_S)
    answered = time.monotonic() - started
    for poller in pollers:
        poller.join()
    if any(v is None for v in seen.values()):
        raise RuntimeError(f"{topic}: not listed everywhere within {VISIBLE_TIMEOUT_S}s: {seen}")
    return {"answered_s": round(answered, 3), "all_brokers_list_s": round(max(seen.values()), 3),
            "per_broker_s": {str(k): round(v, 3) for k, v in sorted(seen.items())}}


def raft_leader(cluster, asked):
    error, leader, epoch, _, _, _ = describe_quorum_v0(cluster.node(asked).bootstrap)
    if error != 0 or leader not in cluster.nodes:
        raise RuntimeError(f"DescribeQuorum on {asked}: error {error}, leader {leader}")
    return leader, epoch


def measure_failover(cluster, round_index, retry_s):
    leader, epoch = raft_leader(cluster, 1)
    survivor = next(i for i in cluster.nodes if i != leader)
    topic = f"bench-failover-{round_index}-{int(time.time())}"
    started = time.monotonic()
    cluster.kill(leader)
    killed = time.monotonic()
    tries = 0
    last = None
    while time.monotonic() - killed < FAILOVER_TIMEOUT_S:
        tries += 1
        creator = admin(cluster.node(survivor).bootstrap)
        future = creator.create_topics([NewTopic(topic, 1, replication_factor=1)],
                                       request_timeout=10)[topic]
        try:
            future.result(timeout=15)
            break
        except Exception as error:  # noqa: BLE001 (retried until the deadline)
            if "TOPIC_ALREADY_EXISTS" in str(error):
                break
            last = error
        time.sleep(retry_s)
    else:
        raise RuntimeError(f"no CreateTopics within {FAILOVER_TIMEOUT_S}s after the kill: {last}")
    done = time.monotonic() - started
    new_leader, new_epoch = raft_leader(cluster, survivor)
    cluster.restart(leader)
    for i in cluster.nodes:
        wait_for_brokers(cluster.node(i).bootstrap, BROKERS)
    return {"killed": leader, "kill_to_create_topics_s": round(done, 3), "tries": tries,
            "new_leader": new_leader, "epochs": [epoch, new_epoch]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--poll-ms", type=int, default=10)
    parser.add_argument("--retry-ms", type=int, default=100)
    parser.add_argument("--no-failover", action="store_true",
                        help="measure creation only (A/B runs of one binary per process)")
    args = parser.parse_args()
    load_before = load_average()
    runs = {"create": [], "failover": []}
    with tempfile.TemporaryDirectory(prefix="millrace-cluster-bench-") as directory:
        cluster = Cluster(directory, BROKERS)
        try:
            cluster.start()
            for i in cluster.nodes:
                wait_for_brokers(cluster.node(i).bootstrap, BROKERS)
            for round_index in range(args.rounds):
                created = measure_create(cluster, args.partitions, round_index, args.poll_ms / 1000)
                created["load"] = round(load_average(), 2)
                print(json.dumps({"round": round_index, "create": created}), flush=True)
                runs["create"].append(created)
                if args.no_failover:
                    continue
                failed_over = measure_failover(cluster, round_index, args.retry_ms / 1000)
                failed_over["load"] = round(load_average(), 2)
                print(json.dumps({"round": round_index, "failover": failed_over}), flush=True)
                runs["failover"].append(failed_over)
        finally:
            cluster.kill_all()
    summary = {
        "partitions": args.partitions,
        "rounds": args.rounds,
        "create_answered_median_s": statistics.median(r["answered_s"] for r in runs["create"]),
        "create_all_brokers_list_median_s": statistics.median(r["all_brokers_list_s"] for r in runs["create"]),
        "failover_kill_to_create_topics_median_s": statistics.median(
            r["kill_to_create_topics_s"] for r in runs["failover"]) if runs["failover"] else None,
        "load_average_before_after": [round(load_before, 2), round(load_average(), 2)],
    }
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
