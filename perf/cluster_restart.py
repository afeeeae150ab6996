#!/usr/bin/env python3
"""How long a restarted cluster node takes to serve again, by the size of the metadata it
re-applies (issue 12: a restarted node reads its metadata snapshot and log tail, re-applies them
and opens the partition logs it holds before it registers). On loopback, 3 `millrace serve FILE`
nodes with num.shards=1 (tests/cluster_fixture.py's files), every node a voter and a broker.

Setup: --topics topics of --partitions-per-topic partitions each, replication factor
--replication-factor, created through the lowest node id in CreateTopics of --topics-per-request topics.

Each round stops a node that is not the Raft leader (found with DescribeQuorum), alternately by
kill -9 and by SIGTERM (a controlled shutdown), starts it again from the same file and measures
from the launch:
- answers_s: it answers ApiVersions;
- lists_all_s: its own Metadata lists every topic with all its partitions (its image holds the
  whole metadata again);
- serves_all_s: its own Metadata lists the 3 brokers and a leader for every partition (it is
  registered and unfenced, and leads its partitions again; with replication factor 1 the
  partitions it alone holds have no leader until then).

Medians per stop kind at the end. `--kind kafka` runs the same against Apache Kafka: 3 combined
nodes from perf/peers/kafka.sh (its defaults; the heap given by --kafka-heap), each restart the
node's own command line launched again. Wrap it in the bench lock:

    flock /work/wt/bench.lock target/test-venv/bin/python perf/cluster_restart.py --rounds 6
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "perf"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import kafka_wire  # noqa: E402
from cluster_control_plane import raft_leader  # noqa: E402
from cluster_restart_availability import kafka_pid  # noqa: E402
from cluster_fixture import Cluster  # noqa: E402
from test_cluster_three_brokers_serve_clients import wait_for_brokers  # noqa: E402

BROKERS = 3
ADMIN_TIMEOUT_S = 60
SERVE_TIMEOUT_S = 180
ANSWER_POLL_S = 0.01
KAFKA_SH = REPO / "perf" / "peers" / "kafka.sh"
KAFKA_PORT = 39192
EXIT_POLL_S = 0.05
KAFKA_STOP_TIMEOUT_S = 120


class KafkaNode:
    """One node of perf/peers/kafka.sh's cluster, stopped and launched again by its command line."""

    def __init__(self, node_id, run_dir):
        self.node_id = node_id
        self.bootstrap = f"127.0.0.1:{KAFKA_PORT + node_id}"
        self.pid = kafka_pid(run_dir, node_id)
        argv = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")[:-1]
        self.argv = [a.decode() for a in argv]
        self.cwd = os.readlink(f"/proc/{self.pid}/cwd")
        self.log = run_dir / f"node-{node_id}" / "restart.log"
        self.process = None

    def alive(self):
        if self.process is not None:
            return self.process.poll() is None
        return Path(f"/proc/{self.pid}").exists()

    def signal_and_wait(self, signum):
        os.kill(self.process.pid if self.process else self.pid, signum)
        deadline = time.monotonic() + KAFKA_STOP_TIMEOUT_S
        while self.alive():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka node {self.node_id} did not exit")
            time.sleep(EXIT_POLL_S)

    def launch(self):
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, stdout=log, stderr=log)
        return self


class KafkaCluster:
    """Apache Kafka's 3 combined nodes (ids 0-2), with the Cluster methods the rounds use."""

    def __init__(self, directory, heap):
        self.run_dir = Path(directory) / "kafka"
        subprocess.run([str(KAFKA_SH), "start", "--nodes", str(BROKERS), "--port", str(KAFKA_PORT),
                        "--heap", heap, "--dir", str(self.run_dir), "--fresh"], check=True,
                       stdout=subprocess.DEVNULL)
        self.nodes = {i: KafkaNode(i, self.run_dir) for i in range(BROKERS)}

    def node(self, node_id):
        return self.nodes[node_id]

    def kill(self, node_id):
        self.nodes[node_id].signal_and_wait(signal.SIGKILL)

    def stop(self, node_id):
        self.nodes[node_id].signal_and_wait(signal.SIGTERM)

    def kill_all(self):
        for node in self.nodes.values():
            if node.process is not None and node.alive():
                node.process.kill()
                node.process.wait()
        subprocess.run([str(KAFKA_SH), "stop", "--dir", str(self.run_dir)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4",
                        "log_level": 0})


def create_topics(bootstrap, topics, partitions, replication_factor, per_request):
    creator = admin(bootstrap)
    names = [f"restart-{i:05d}" for i in range(topics)]
    for start in range(0, topics, per_request):
        batch = [NewTopic(n, partitions, replication_factor=replication_factor)
                 for n in names[start:start + per_request]]
        for future in creator.create_topics(batch, request_timeout=ADMIN_TIMEOUT_S).values():
            future.result(timeout=ADMIN_TIMEOUT_S)
    return names


def answers(bootstrap):
    """True once the node answers ApiVersions on its client port."""
    try:
        with kafka_wire.connect(bootstrap) as sock:
            kafka_wire.call(sock, kafka_wire.API_API_VERSIONS, 0, 1, b"")
        return True
    except OSError:
        return False


def image_state(bootstrap, names, partitions):
    """(lists every topic whole, every partition has a leader and 3 brokers are listed)."""
    try:
        listed = admin(bootstrap).list_topics(timeout=10)
    except Exception:  # noqa: BLE001 (the node may not answer yet)
        return False, False
    whole = all(n in listed.topics and len(listed.topics[n].partitions) == partitions
                for n in names)
    led = whole and len(listed.brokers) == BROKERS and all(
        p.leader >= 0 for n in names for p in listed.topics[n].partitions.values())
    return whole, led


def measure_restart(cluster, names, partitions, how, poll_s):
    leader, _ = raft_leader(cluster, sorted(cluster.nodes)[0])
    node_id = next(i for i in sorted(cluster.nodes) if i != leader)
    node = cluster.node(node_id)
    if how == "kill9":
        cluster.kill(node_id)
    else:
        cluster.stop(node_id)
    launched = time.monotonic()
    node.launch()
    times = {}
    deadline = launched + SERVE_TIMEOUT_S
    while not answers(node.bootstrap):
        if time.monotonic() > deadline or not node.alive():
            raise RuntimeError(f"node {node_id} did not answer ApiVersions")
        time.sleep(ANSWER_POLL_S)
    times["answers_s"] = time.monotonic() - launched
    while "serves_all_s" not in times:
        if time.monotonic() > deadline:
            raise RuntimeError(f"node {node_id} not serving within {SERVE_TIMEOUT_S}s: {times}")
        whole, led = image_state(node.bootstrap, names, partitions)
        now = time.monotonic() - launched
        if whole:
            times.setdefault("lists_all_s", now)
        if led:
            times["serves_all_s"] = now
        time.sleep(poll_s)
    result = {k: round(v, 3) for k, v in times.items()}
    result.update({"node": node_id, "stop": how, "load": round(os.getloadavg()[0], 2)})
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--topics", type=int, default=100)
    parser.add_argument("--partitions-per-topic", type=int, default=10)
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--topics-per-request", type=int, default=50)
    parser.add_argument("--poll-ms", type=int, default=50)
    parser.add_argument("--kind", choices=("millrace", "kafka"), default="millrace")
    parser.add_argument("--kafka-heap", default="1g")
    args = parser.parse_args()
    runs = {"kill9": [], "sigterm": []}
    with tempfile.TemporaryDirectory(prefix="millrace-restart-bench-") as directory:
        if args.kind == "kafka":
            cluster = KafkaCluster(directory, args.kafka_heap)
        else:
            cluster = Cluster(directory, BROKERS)
        try:
            if args.kind == "millrace":
                cluster.start()
            for i in cluster.nodes:
                wait_for_brokers(cluster.node(i).bootstrap, BROKERS)
            started = time.monotonic()
            first = sorted(cluster.nodes)[0]
            names = create_topics(cluster.node(first).bootstrap, args.topics, args.partitions_per_topic,
                                  args.replication_factor, args.topics_per_request)
            print(json.dumps({"created_topics": args.topics,
                              "partitions": args.topics * args.partitions_per_topic,
                              "s": round(time.monotonic() - started, 3)}), flush=True)
            for i in cluster.nodes:
                deadline = time.monotonic() + SERVE_TIMEOUT_S
                while not image_state(cluster.node(i).bootstrap, names, args.partitions_per_topic)[1]:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"node {i} never listed every topic led")
                    time.sleep(0.5)
            for round_index in range(args.rounds):
                how = "kill9" if round_index % 2 == 0 else "sigterm"
                result = measure_restart(cluster, names, args.partitions_per_topic, how,
                                         args.poll_ms / 1000)
                print(json.dumps({"round": round_index, **result}), flush=True)
                runs[how].append(result)
        finally:
            cluster.kill_all()
    summary = {"kind": args.kind, "topics": args.topics, "partitions": args.topics * args.partitions_per_topic,
               "replication_factor": args.replication_factor}
    for how, results in runs.items():
        for key in ("answers_s", "lists_all_s", "serves_all_s"):
            if results:
                summary[f"{how}_{key}_median"] = statistics.median(r[key] for r in results)
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
