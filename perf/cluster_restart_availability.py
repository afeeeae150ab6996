#!/usr/bin/env python3
"""How long after a whole-cluster restart with one node left down do all partitions have a
leader again, and take an acks=all write? millrace against Apache Kafka (issue 12).

A benchmark, not a test. For each broker kind, each round:
  1. start 3 combined nodes (broker+controller; millrace: `millrace serve FILE` with the test
     suite's KRaft files, num.shards=1; Kafka: perf/peers/kafka.sh start --nodes 3);
  2. create a topic of 3 partitions, replication factor 3 (one leader on each node), write to it;
  3. kill -9 all three nodes, then start nodes 1 and 2 again (node 3 stays down);
  4. from that start, time until (a) Metadata, asked of nodes 1-2 with a new client each time,
     shows every partition led by node 1 or 2, and (b) an acks=all write to every partition
     succeeds.
Both brokers keep their defaults for how long a silent broker stays registered
(broker.session.timeout.ms, 9 s in Kafka).

    target/test-venv/bin/python perf/cluster_restart_availability.py --rounds 3 [--kinds millrace,kafka]

One JSON line per round, then the medians (a round that did not recover within DEADLINE_S
shows null). MILLRACE_BINARY picks the millrace build (default target/release/millrace);
RESTART_MILLRACE_EXTRA="k=v;k=v" adds lines to every millrace node's file (e.g.
min.insync.replicas=2); RESTART_KEEP=DIR keeps each round's node folders and logs there;
RESTART_DEBUG=1 prints the leaders seen at each poll.
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
KAFKA_SH = REPO / "perf" / "peers" / "kafka.sh"
PARTITIONS = 3
DEADLINE_S = 120
POLL_S = 0.1


def admin(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 1000})


def leaders(bootstrap, topic):
    """{partition: leader} from a new client's Metadata, or None."""
    try:
        client = admin(bootstrap)
        md = client.list_topics(topic, timeout=1)
    except Exception:
        return None
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return {p: meta.leader for p, meta in t.partitions.items()}


def write_all(bootstrap, topic):
    """True when an acks=all record reaches every partition within a second or two."""
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "message.timeout.ms": 2000, "socket.timeout.ms": 1000})
    failures = []
    for partition in range(PARTITIONS):
        producer.produce(topic, b"after-restart", partition=partition,
                         on_delivery=lambda err, _msg: err and failures.append(err))
    left = producer.flush(3)
    return left == 0 and not failures


def create_topic(bootstrap, topic):
    from confluent_kafka.admin import NewTopic
    deadline = time.monotonic() + 30
    while True:
        client = admin(bootstrap)  # kept: a collected client cancels its requests
        try:
            client.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(30)
            break
        except Exception:
            # INVALID_REPLICATION_FACTOR until all three brokers registered.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    while not write_all(bootstrap, topic):
        if time.monotonic() > deadline:
            raise RuntimeError("the new topic never took a write")


def time_recovery(bootstrap, topic, survivors, started):
    led_at = wrote_at = None
    while time.monotonic() - started < DEADLINE_S and wrote_at is None:
        if led_at is None:
            found = leaders(bootstrap, topic)
            if os.environ.get("RESTART_DEBUG"):
                print(f"{time.monotonic() - started:.1f}s leaders {found}", file=sys.stderr)
            if found and len(found) == PARTITIONS and all(l in survivors for l in found.values()):
                led_at = time.monotonic() - started
        if led_at is not None and write_all(bootstrap, topic):
            wrote_at = time.monotonic() - started
        time.sleep(POLL_S)
    return led_at, wrote_at


def round_millrace(workdir):
    from cluster_fixture import Cluster
    extra = [line for line in os.environ.get("RESTART_MILLRACE_EXTRA", "").split(";") if line]
    cluster = Cluster(workdir, 3, extra=extra).start()
    try:
        topic = "restart-probe"
        create_topic(cluster.bootstrap, topic)
        before = leaders(cluster.bootstrap, topic)
        for node in (1, 2, 3):
            cluster.kill(node)
        started = time.monotonic()
        for node in (1, 2):
            cluster.node(node).launch()
        back = ",".join(cluster.node(n).bootstrap for n in (1, 2))
        led, wrote = time_recovery(back, topic, {1, 2}, started)
        return before, led, wrote
    finally:
        cluster.kill_all()


def kafka_pid(run_dir, node):
    return int((run_dir / f"node-{node}" / "kafka.pid").read_text())


def round_kafka(workdir):
    # kafka.sh numbers its nodes from 0 (node.id 0, port PORT+0): nodes 0 and 1 come back,
    # node 2 stays down.
    port = 39092
    run_dir = Path(workdir) / "kafka"
    subprocess.run([str(KAFKA_SH), "start", "--nodes", "3", "--port", str(port), "--heap", "1g",
                    "--dir", str(run_dir), "--fresh"], check=True, stdout=subprocess.DEVNULL)
    relaunched = []
    try:
        bootstrap = ",".join(f"127.0.0.1:{port + i}" for i in (0, 1, 2))
        topic = "restart-probe"
        create_topic(bootstrap, topic)
        before = leaders(bootstrap, topic)
        commands = {}
        for node in (0, 1, 2):
            pid = kafka_pid(run_dir, node)
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
            commands[node] = ([a.decode() for a in argv], os.readlink(f"/proc/{pid}/cwd"))
        for node in (0, 1, 2):
            os.kill(kafka_pid(run_dir, node), signal.SIGKILL)
        time.sleep(0.5)
        started = time.monotonic()
        for node in (0, 1):
            argv, cwd = commands[node]
            log = open(run_dir / f"node-{node}" / "restart.log", "ab")
            relaunched.append(subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=log))
        back = ",".join(f"127.0.0.1:{port + i}" for i in (0, 1))
        led, wrote = time_recovery(back, topic, {0, 1}, started)
        return before, led, wrote
    finally:
        for process in relaunched:
            process.kill()
            process.wait()
        subprocess.run([str(KAFKA_SH), "stop", "--dir", str(run_dir)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", default="millrace,kafka")
    args = parser.parse_args()
    rows = []
    for round_index in range(args.rounds):
        for kind in args.kinds.split(","):
            keep = os.environ.get("RESTART_KEEP") or None  # a folder to keep the nodes' logs in
            with tempfile.TemporaryDirectory(prefix=f"restart-{kind}.", dir=keep) as workdir:
                if keep:
                    workdir = tempfile.mkdtemp(prefix=f"{kind}-{round_index}.", dir=keep)
                run = round_millrace if kind == "millrace" else round_kafka
                before, led, wrote = run(workdir)
            row = {"kind": kind, "round": round_index, "at": time.strftime("%H:%M:%SZ", time.gmtime()),
                   "leaders_before": before, "all_led_s": led, "acks_all_write_s": wrote}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for kind in args.kinds.split(","):
        for key in ("all_led_s", "acks_all_write_s"):
            values = [r[key] for r in rows if r["kind"] == kind and r[key] is not None]
            if values:
                print(f"{kind} {key}: median {statistics.median(values):.2f} s, runs "
                      + "/".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    sys.exit(main())
