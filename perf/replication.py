"""Replication benchmarks (issue 13), ratios taken in one run on one machine:

  throughput: `millrace bench` (acks=all, 1 KiB, produce only, 3 partitions) against a single
      broker (RF=1, no cluster) and against 3 brokers (RF=3, min.insync.replicas=2), in
      alternating rounds; every broker num.shards=1. Also broker CPU-seconds (utime+stime of the
      broker processes over the run, from /proc) per GB produced per replica.
  failover: 3 brokers, an acks=all producer on partition 0; kill -9 of its leader, then the time
      to the first acks=all record acknowledged after the kill (the new leader's), per round.
      --broker-session-timeout-ms / --broker-heartbeat-interval-ms set those keys on every node
      (default: Kafka's 9000 / 2000); --kill-controller produces to the partition the active
      controller leads, so the kill also costs a metadata-quorum election; --keep-logs DIR keeps
      each node's log for a timeline.
  restart of the controller's node (--restart-controller, issue 12): kill -9 of the active
      controller's node, then its restart from the same file and data dir, made to win the
      election again (one other voter is killed before an RF=1 topic is created, so its log
      lacks it, and restarted with it; the last one is killed with it); the time from the restart (process
      launched) to its registration (its log's `broker N: Recovery` line) and to the first
      acks=all record acknowledged on its partition of that topic, per round (--failovers
      rounds).
  restart of a broker across a controller change (--restart-broker, issue 12): kill -9 of a
      node that is not the active controller, at once with the active controller's node (so its
      registration stays unfenced); the controller's node restarts, and once a controller is
      active again (its log's `active controller from` line) the broker restarts: the time from
      the broker's restart to its registration (`broker N: Recovery`), to being unfenced
      (`broker N: Running`) and to the first acks=all record acknowledged on its partition of an
      RF=1 topic, per round.

  fixed-rate latency (--latency-rounds N, instead of the above): `millrace bench --rate 20000`
      1 KiB records (20 MB/s), 3 partitions, one consumer, against fresh brokers of each of
      --latency-kinds (rf1, rf3: acks=all; rf1-acks1, rf3-acks1: the same brokers with acks=1,
      so the followers' load stays but nobody waits for them), order rotating per round:
      publish and e2e percentiles, broker and client CPU-s, and the brokers' own Produce, Fetch
      and fsync histograms; medians and RF=3/RF=1 p99 ratios (also round by round).
  idle requests (--idle): 3 brokers, RF=3, no traffic; requests received per second by API
      (`millrace_requests_total`) over --idle-window-s at 10 and at 1,000 partitions.

    target/test-venv/bin/python perf/replication.py [--rounds 2] [--duration 20s] [--failovers 3]
        [--broker-session-timeout-ms MS --broker-heartbeat-interval-ms MS] [--kill-controller]
        [--restart-controller | --restart-broker] [--keep-logs DIR]
    target/test-venv/bin/python perf/replication.py --latency-rounds 5 [--latency-kinds rf1,rf3]
        [--rate 20000] [--latency-duration 15s] [--latency-warmup 5s] [--idle [--idle-window-s 30]]

Run it under `flock /work/wt/bench.lock`. Prints one JSON line per measurement and a summary."""

import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("MILLRACE_BINARY", REPO / "target" / "release" / "millrace"))
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_ports(count):
    ports = set()
    while len(ports) < count:
        s = socket.socket()
        s.bind((HOST, 0))
        ports.add(s.getsockname()[1])
        s.close()
    return sorted(ports)


def wait_port(port):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} not ready")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def written_bytes(pids):
    """Bytes the processes had the block layer write (`write_bytes` of /proc/PID/io: O_DIRECT
    segment writes included)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/io") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("write_bytes:"))
    return total


class Single:
    """One broker, no cluster (RF=1)."""

    def __init__(self, root, http=False):
        (self.port,) = free_ports(1)
        self.http_ports = free_ports(1) if http else []
        listener = f"{HOST}:{self.http_ports[0]}" if http else ""
        data = Path(root) / "single"
        data.mkdir(parents=True, exist_ok=True)
        self.stderr = open(Path(root) / "single.stderr", "ab")
        self.procs = [subprocess.Popen(
            [str(BINARY), "serve", "--override", f"listeners=PLAINTEXT://{HOST}:{self.port}",
             "--override", f"advertised.listeners=PLAINTEXT://{HOST}:{self.port}",
             "--override", f"log.dirs={data}", "--override", "num.shards=1",
             "--override", f"http.listener={listener}"],
            stdout=self.stderr, stderr=self.stderr)]
        wait_port(self.port)
        self.bootstrap = f"{HOST}:{self.port}"

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


class Cluster:
    """Three `millrace serve FILE` nodes, all voters, default.replication.factor=3; `extra` lines
    go into every node's file; `http` serves each node's /metrics on a port of `http_ports`."""

    def __init__(self, root, extra=(), http=False):
        ports = free_ports(9 if http else 6)
        self.client_ports, controller_ports = ports[:3], ports[3:6]
        self.http_ports = ports[6:]
        voters = ",".join(f"{i + 1}@{HOST}:{p}" for i, p in enumerate(controller_ports))
        self.root = Path(root) / "cluster"
        self.files = []
        for i in range(3):
            node = self.root / f"node-{i + 1}"
            node.mkdir(parents=True, exist_ok=True)
            text = "\n".join([
                "process.roles=broker,controller", f"node.id={i + 1}",
                f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://{HOST}:{self.client_ports[i]},CONTROLLER://{HOST}:{controller_ports[i]}",
                f"advertised.listeners=PLAINTEXT://{HOST}:{self.client_ports[i]}",
                "inter.broker.listener.name=PLAINTEXT", "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={node / 'data'}", "num.shards=1", "default.replication.factor=3",
                "min.insync.replicas=2", "num.partitions=1", *extra, "",
            ])
            (node / "server.properties").write_text(text)
            self.files.append(node / "server.properties")
        self.procs = [None, None, None]
        for i in range(3):
            self.start(i)
        for port in self.client_ports:
            wait_port(port)
        self.bootstrap = ",".join(f"{HOST}:{p}" for p in self.client_ports)
        self.wait_ready()

    def wait_ready(self):
        """Until a CreateTopics through the first broker succeeds: a controller is active and
        the brokers are registered and unfenced."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "broker.address.family": "v4"})
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                topic = NewTopic("ready-check", num_partitions=1, replication_factor=3)
                admin.create_topics([topic])["ready-check"].result(10)
                return
            except Exception:  # noqa: BLE001 (the cluster is still forming)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def start(self, i):
        stderr = open(self.files[i].parent / "stderr.log", "ab")
        listener = f"{HOST}:{self.http_ports[i]}" if self.http_ports else ""
        self.procs[i] = subprocess.Popen(
            [str(BINARY), "serve", str(self.files[i]), "--override", f"http.listener={listener}"],
            stdout=stderr, stderr=stderr, cwd=self.files[i].parent)

    def stop(self):
        for p in self.procs:
            if p and p.poll() is None:
                p.kill()
                p.wait()


def bench(bootstrap, out, duration, prefix):
    cmd = [str(BINARY), "bench", "--bootstrap", bootstrap, "--acks", "all", "--message-size", "1024",
           "--partitions-per-topic", "3", "--consumers-per-topic", "0", "--duration", duration,
           "--warmup", "3s", "--topic-prefix", prefix, "--output", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((Path(out) / "result.json").read_text())


def produced_bytes_per_s(result):
    """Produce throughput in bytes/s from a bench result.json."""
    produce = find_key(result, "produce")
    return produce["mb_per_s"] * 1e6


def find_key(value, key):
    """The first value under `key` anywhere in nested dicts."""
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for inner in value.values():
            found = find_key(inner, key)
            if found is not None:
                return found
    return None


def throughput_round(kind, root, duration, round_no):
    own = Path(root) / f"{kind}-{round_no}-brokers"
    target = Single(own) if kind == "rf1" else Cluster(own)
    try:
        time.sleep(1)
        pids = [p.pid for p in target.procs]
        before, written_before = cpu_seconds(pids), written_bytes(pids)
        started = time.monotonic()
        result = bench(target.bootstrap.split(",")[0], Path(root) / f"{kind}-{round_no}", duration, f"{kind}{round_no}")
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pids) - before
        written = written_bytes(pids) - written_before
    finally:
        target.stop()
        # ~1 GB/s for 13 s, three times over at RF=3: rounds would fill the disk (ENOSPC ended
        # a 3-round run with KafkaStorageError).
        shutil.rmtree(own, ignore_errors=True)
    rate = produced_bytes_per_s(result)
    replicas = 1 if kind == "rf1" else 3
    # The CPU covers the bench's warm-up and set-up too: charge it to the bytes of the whole run.
    gb = rate * elapsed / 1e9
    line = {"kind": kind, "round": round_no, "bytes_per_s": rate,
            "broker_cpu_s": round(cpu, 2), "cpu_s_per_gb_per_replica": round(cpu / gb / replicas, 2),
            # All brokers share one device here: RF=3 writes every byte three times to it.
            "brokers_disk_write_mb_per_s": round(written / elapsed / 1e6, 1),
            "load": os.getloadavg()[0]}
    print(json.dumps(line), flush=True)
    return line


class LeaderWatch(threading.Thread):
    """Polls Metadata at one surviving broker until `partition` of `topic` has a leader other
    than `old` (the controller fenced the dead leader, elected another, and that broker applied
    it): `seen_at` is when, on the monotonic clock."""

    def __init__(self, bootstrap, topic, old, partition=0):
        super().__init__(daemon=True)
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
        self.topic, self.old, self.partition, self.seen_at = topic, old, partition, None
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set() and self.seen_at is None:
            try:
                topic = self.admin.list_topics(self.topic, timeout=1).topics[self.topic]
                meta = topic.partitions[self.partition]
                if meta.leader not in (-1, self.old):
                    self.seen_at = time.monotonic()
            except Exception:  # noqa: BLE001 (a broker is down: ask again)
                pass
            time.sleep(0.05)

    def stop(self):
        self.stopped.set()
        self.join(5)


def active_controller(cluster):
    """The node whose log last says it became the active controller (and not that it stopped)."""
    for i, config in enumerate(cluster.files):
        text = (config.parent / "stderr.log").read_text(errors="replace")
        if text.rfind("active controller from") > text.rfind("no longer the active controller"):
            return i + 1
    return None


def first_ack_after(producer, topic, partition, since):
    """Produces to `partition` until a record is acknowledged (at most 60 s from `since`, on the
    monotonic clock): seconds from `since` to the first ack, or None."""
    after = []
    deadline = since + 60
    while not any(e is None for _, e in after) and time.monotonic() < deadline:
        producer.produce(topic, b"x", partition=partition,
                         on_delivery=lambda e, m: after.append((time.monotonic(), e)))
        producer.poll(0.05)
    ok = [t for t, e in after if e is None]
    return (min(ok) - since) if ok else None


def failover_round(root, round_no, extra=(), kill_controller=False):
    cluster = Cluster(Path(root) / f"failover-{round_no}", extra)
    try:
        topic = f"failover-{round_no}"
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "linger.ms": 0,
                             "message.timeout.ms": 60000, "broker.address.family": "v4",
                             "topic.metadata.refresh.interval.ms": 1000})
        partition = 0
        if kill_controller:
            # Three partitions spread over the brokers: produce to the one the active
            # controller leads, so its kill costs an election of the metadata quorum too.
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "broker.address.family": "v4"})
            admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(30)
            controller = active_controller(cluster)
            parts = producer.list_topics(topic, timeout=10).topics[topic].partitions
            partition = next((p for p, m in parts.items() if m.leader == controller), 0)
        acked = []
        producer.produce(topic, b"first", partition=partition,
                         on_delivery=lambda e, m: acked.append((time.monotonic(), e)))
        producer.flush(30)
        meta = producer.list_topics(topic, timeout=10).topics[topic].partitions[partition]
        leader = meta.leader
        controller = active_controller(cluster)
        survivor = next(p for i, p in enumerate(cluster.client_ports) if i + 1 != leader)
        watcher = LeaderWatch(f"{HOST}:{survivor}", topic, leader, partition)
        killed_at = time.monotonic()
        cluster.procs[leader - 1].send_signal(signal.SIGKILL)
        watcher.start()
        seconds = first_ack_after(producer, topic, partition, killed_at)
        watcher.stop()
        new_leader_s = (watcher.seen_at - killed_at) if watcher.seen_at else None
        producer.purge()
        producer.flush(1)
        line = {"kind": "failover", "round": round_no, "seconds": seconds, "old_leader": leader,
                "controller_killed": leader == controller,
                "new_leader_in_metadata_s": new_leader_s and round(new_leader_s, 3),
                "killed_at_unix": round(time.time() - (time.monotonic() - killed_at), 3),
                "load": os.getloadavg()[0]}
        print(json.dumps(line), flush=True)
        return line
    finally:
        cluster.stop()


def first_ack_then_purge(producer, topic, partition, since):
    """`first_ack_after`, then drops what the producer still holds."""
    seconds = first_ack_after(producer, topic, partition, since)
    producer.purge()
    producer.flush(1)
    return seconds


def logged_at_unix(log_path, text, after_unix):
    """The time (Unix seconds) of the first line of `log_path` holding `text` logged after
    `after_unix`, or None."""
    for line in Path(log_path).read_text(errors="replace").splitlines():
        if text not in line:
            continue
        stamp = line.split(" ", 1)[0]
        try:
            at = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            continue
        at_unix = at.replace(tzinfo=datetime.timezone.utc).timestamp()
        if at_unix >= after_unix:
            return at_unix
    return None


def restart_controller_round(root, round_no, extra=()):
    """kill -9 of the active controller's node and its restart as the controller again:
    seconds from the restart to its registration and to the first acks=all ack on a partition
    only it holds."""
    cluster = Cluster(Path(root) / f"restart-{round_no}", extra)
    try:
        node = active_controller(cluster)
        behind, other = [i for i in (1, 2, 3) if i != node]
        # Committed by `node` and `other` only: `behind` cannot win the next election. Killed,
        # not paused: a client waits a whole socket timeout for a paused broker's answers.
        kill(cluster.procs[behind - 1])
        live = ",".join(f"{HOST}:{cluster.client_ports[i - 1]}" for i in (node, other))
        topic = f"restart-{round_no}"
        partition, producer = solo_partition_on(live, topic, node)
        kill(cluster.procs[other - 1])
        kill(cluster.procs[node - 1])
        restarted_unix, restarted = time.time(), time.monotonic()
        cluster.start(behind - 1)
        cluster.start(node - 1)
        first_ack_s = first_ack_then_purge(producer, topic, partition, restarted)
        log = cluster.files[node - 1].parent / "stderr.log"
        registered = logged_at_unix(log, f"broker {node}: Recovery", restarted_unix)
        activated = logged_at_unix(log, f"node {node}: active controller from", restarted_unix)
        line = {"kind": "restart_controller", "round": round_no, "node": node,
                "registered_s": registered and round(registered - restarted_unix, 3),
                "first_ack_s": first_ack_s and round(first_ack_s, 3),
                "controller_again_s": activated and round(activated - restarted_unix, 3),
                "restarted_at_unix": round(restarted_unix, 3), "load": os.getloadavg()[0]}
        print(json.dumps(line), flush=True)
        return line
    finally:
        cluster.stop()


def activations(cluster):
    """How many times each node's log says it became the active controller."""
    return [(config.parent / "stderr.log").read_text(errors="replace").count("active controller from")
            for config in cluster.files]


def solo_partition_on(bootstrap, topic, node):
    """Creates `topic` (3 partitions, RF=1) and returns a partition `node` leads, after one
    acknowledged record; and the producer."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    # min.insync.replicas=1: the cluster's 2 is more than the one replica.
    new = NewTopic(topic, num_partitions=3, replication_factor=1, config={"min.insync.replicas": "1"})
    admin.create_topics([new])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                         "message.timeout.ms": 60000, "broker.address.family": "v4",
                         "topic.metadata.refresh.interval.ms": 1000})
    deadline = time.monotonic() + 30
    partition = None
    while partition is None and time.monotonic() < deadline:
        parts = producer.list_topics(topic, timeout=10).topics[topic].partitions
        partition = next((p for p, m in parts.items() if m.leader == node), None)
        time.sleep(0.1)
    acked = []
    producer.produce(topic, b"first", partition=partition, on_delivery=lambda e, m: acked.append(e))
    producer.flush(30)
    if acked != [None]:
        raise RuntimeError(f"no ack before the kill on partition {partition}: {acked}")
    return partition, producer


def restart_broker_round(root, round_no, extra=()):
    """kill -9 of a broker that is not the active controller with the controller's node, the
    controller's restart, then the broker's once a controller is active again: seconds from the
    broker's restart to its registration, its unfencing and the first acks=all ack on a
    partition only it holds."""
    cluster = Cluster(Path(root) / f"restart-broker-{round_no}", extra)
    try:
        controller = active_controller(cluster)
        broker = next(i for i in (1, 2, 3) if i != controller)
        topic = f"restart-broker-{round_no}"
        partition, producer = solo_partition_on(cluster.bootstrap, topic, broker)
        before = activations(cluster)
        kill(cluster.procs[broker - 1])
        kill(cluster.procs[controller - 1])
        cluster.start(controller - 1)
        deadline = time.monotonic() + 60
        while activations(cluster) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        now = activations(cluster)
        new_controller = next((i + 1 for i in range(3) if now[i] > before[i]), None)
        restarted_unix, restarted = time.time(), time.monotonic()
        cluster.start(broker - 1)
        first_ack_s = first_ack_then_purge(producer, topic, partition, restarted)
        log = cluster.files[broker - 1].parent / "stderr.log"
        registered = logged_at_unix(log, f"broker {broker}: Recovery", restarted_unix)
        running = logged_at_unix(log, f"broker {broker}: Running", restarted_unix)
        line = {"kind": "restart_broker", "round": round_no, "broker": broker,
                "controller": controller, "new_controller": new_controller,
                "registered_s": registered and round(registered - restarted_unix, 3),
                "unfenced_s": running and round(running - restarted_unix, 3),
                "first_ack_s": first_ack_s and round(first_ack_s, 3),
                "restarted_at_unix": round(restarted_unix, 3), "load": os.getloadavg()[0]}
        print(json.dumps(line), flush=True)
        return line
    finally:
        cluster.stop()


# Fixed-rate latency (issue 13: "at a fixed 20 MB/s, p99 publish latency is under 2x the RF=1
# figure"). kind -> (three brokers RF=3?, acks). The acks=1 kinds keep the same brokers and the
# same load (followers still fetch and fsync) but do not wait for the followers nor for fsync:
# they separate the wait for replication from the CPU the extra brokers take on shared cores.
LATENCY_KINDS = {"rf1": (False, "all"), "rf3": (True, "all"),
                 "rf1-acks1": (False, "1"), "rf3-acks1": (True, "1")}
LATENCY_MESSAGE_BYTES = 1024
LATENCY_PARTITIONS = 3
# A broker's histogram buckets (src/metrics/histogram.rs): fractions above these bounds are shown.
TAIL_BOUNDS_S = ("0.01", "0.025", "0.05")


def scrape(ports):
    """Every sample of every node's /metrics: {(port, 'name{labels}'): value}."""
    samples = {}
    for port in ports:
        with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                samples[(port, key)] = float(value)
    return samples


def summed_delta(before, after, name, *needles):
    """The growth of every series `name{...}` whose labels hold all `needles`, summed over nodes
    and shards."""
    total = 0.0
    for (port, key), value in after.items():
        if key.startswith(name + "{") and all(n in key for n in needles):
            total += value - before.get((port, key), 0.0)
    return total


def histogram_summary(before, after, name, *needles):
    """Count, mean (ms) and the fraction above each of TAIL_BOUNDS_S of a broker histogram's
    growth between two scrapes, summed over nodes and shards."""
    count = summed_delta(before, after, name + "_count", *needles)
    if not count:
        return {"count": 0}
    total_s = summed_delta(before, after, name + "_sum", *needles)
    out = {"count": int(count), "mean_ms": round(total_s / count * 1e3, 2)}
    for bound in TAIL_BOUNDS_S:
        below = summed_delta(before, after, name + "_bucket", *needles, f'le="{bound}"')
        out[f"above_{float(bound) * 1e3:g}ms"] = round(1 - below / count, 4)
    return out


def children_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def latency_round(kind, root, round_no, args):
    """One `millrace bench` at a fixed rate against fresh brokers of `kind`: the client's
    publish/e2e percentiles, broker and client CPU-s, and the brokers' own histograms."""
    three, acks = LATENCY_KINDS[kind]
    own = Path(root) / f"lat-{kind}-{round_no}-brokers"
    target = Cluster(own, http=True) if three else Single(own, http=True)
    out = Path(root) / f"lat-{kind}-{round_no}"
    cmd = [str(BINARY), "bench", "--bootstrap", target.bootstrap.split(",")[0], "--acks", acks,
           "--message-size", str(LATENCY_MESSAGE_BYTES), "--rate", str(args.rate),
           "--partitions-per-topic", str(LATENCY_PARTITIONS), "--consumers-per-topic", "1",
           "--duration", args.latency_duration, "--warmup", args.latency_warmup,
           "--topic-prefix", f"lat{round_no}", "--output", str(out)]
    try:
        time.sleep(1)
        pids = [p.pid for p in target.procs]
        before, cpu_before, client_before = scrape(target.http_ports), cpu_seconds(pids), children_cpu_s()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        broker_cpu = cpu_seconds(pids) - cpu_before
        client_cpu = children_cpu_s() - client_before
        after = scrape(target.http_ports)
    finally:
        target.stop()
    result = json.loads((out / "result.json").read_text())
    publish, e2e = result["publish_latency_ms"], result.get("e2e_latency_ms") or {}
    line = {"kind": kind, "round": round_no, "acks": acks,
            "publish_ms": {q: publish[q] for q in ("p50", "p99", "p99.9", "max")},
            "e2e_ms": {q: e2e.get(q) for q in ("p50", "p99", "p99.9")},
            "MBps": round(result["produce"]["mb_per_s"], 1),
            "target_rate_reached": result["target_rate_reached"], "errors": result["errors"],
            "broker_cpu_s": round(broker_cpu, 2), "client_cpu_s": round(client_cpu, 2),
            "broker_produce": histogram_summary(before, after, "millrace_request_latency_seconds", 'api="Produce"'),
            "broker_fetch": histogram_summary(before, after, "millrace_request_latency_seconds", 'api="Fetch"'),
            "fsync": histogram_summary(before, after, "millrace_fsync_latency_seconds"),
            "load": os.getloadavg()[0]}
    print(json.dumps(line), flush=True)
    return line


def latency_summary(lines):
    """Medians per kind, and the RF=3 / RF=1 ratios of the publish p99 the issue's figure asks."""
    summary = {}
    for kind in LATENCY_KINDS:
        mine = [l for l in lines if l["kind"] == kind]
        if not mine:
            continue
        summary[kind] = {
            "publish_p50_ms": statistics.median(l["publish_ms"]["p50"] for l in mine),
            "publish_p99_ms": statistics.median(l["publish_ms"]["p99"] for l in mine),
            "publish_p99.9_ms": statistics.median(l["publish_ms"]["p99.9"] for l in mine),
            "e2e_p99_ms": median_of([l["e2e_ms"] for l in mine], "p99"),
            "broker_cpu_s": statistics.median(l["broker_cpu_s"] for l in mine),
            "client_cpu_s": statistics.median(l["client_cpu_s"] for l in mine)}
    for top, base in (("rf3", "rf1"), ("rf3-acks1", "rf1-acks1"), ("rf3", "rf3-acks1")):
        if top in summary and base in summary:
            summary[f"p99_{top}_over_{base}"] = round(
                summary[top]["publish_p99_ms"] / summary[base]["publish_p99_ms"], 2)
            # Within each round (the two ran minutes apart, under the same load).
            paired = paired_ratios(lines, top, base)
            if paired:
                summary[f"p99_{top}_over_{base}_per_round"] = paired
                summary[f"p99_{top}_over_{base}_per_round_median"] = statistics.median(paired)
    return summary


def paired_ratios(lines, top, base):
    """Publish p99 of `top` over `base`, round by round."""
    p99 = {(l["kind"], l["round"]): l["publish_ms"]["p99"] for l in lines}
    rounds = sorted({l["round"] for l in lines})
    return [round(p99[(top, r)] / p99[(base, r)], 2) for r in rounds
            if (top, r) in p99 and (base, r) in p99]


def idle_requests(root, window_s, counts=(10, 1000)):
    """Three brokers, RF=3, no traffic: requests received per second by API over `window_s`, with
    `counts` partitions (in one topic, grown by a second one) beside the ready-check topic's one."""
    cluster = Cluster(Path(root) / "idle", http=True)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "broker.address.family": "v4"})
    lines, created = [], 0
    try:
        for count in counts:
            topic = f"idle-{count}"
            admin.create_topics([NewTopic(topic, num_partitions=count - created, replication_factor=3)])[topic].result(120)
            created = count
            replicas = wait_settled(cluster, created + 1)
            time.sleep(5)
            pids = [p.pid for p in cluster.procs]
            before, cpu_before = scrape(cluster.http_ports), cpu_seconds(pids)
            time.sleep(window_s)
            after, cpu = scrape(cluster.http_ports), cpu_seconds(pids) - cpu_before
            apis = sorted({k.split('api="')[1].split('"')[0] for (_, k) in after
                           if k.startswith("millrace_requests_total{")})
            per_s = {api: round(summed_delta(before, after, "millrace_requests_total", f'api="{api}"') / window_s, 2)
                     for api in apis}
            per_node = [round(sum(after[(port, k)] - before.get((port, k), 0.0) for (p, k) in after
                                  if p == port and k.startswith("millrace_requests_total{") and 'api="Fetch"' in k)
                              / window_s, 2) for port in cluster.http_ports]
            line = {"kind": "idle", "partitions": created + 1, "replicas_per_node": replicas,
                    "window_s": window_s, "requests_per_s_by_api": per_s,
                    "fetch_per_s_by_node": per_node,
                    "broker_cpu_s_per_s": round(cpu / window_s, 3), "load": os.getloadavg()[0]}
            print(json.dumps(line), flush=True)
            lines.append(line)
    finally:
        cluster.stop()
    return lines


def wait_settled(cluster, partitions, timeout_s=180):
    """Until every node has `partitions` replicas open and leads none under-replicated: the
    replicas per node."""
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape(cluster.http_ports)
        per_node = [sum(v for (p, k), v in samples.items() if p == port and k.startswith("millrace_partitions{"))
                    for port in cluster.http_ports]
        under = sum(v for (_, k), v in samples.items() if k.startswith("millrace_under_replicated_partitions"))
        if all(n >= partitions for n in per_node) and under == 0:
            return per_node
        if time.monotonic() > deadline:
            raise RuntimeError(f"not settled: {per_node} replicas per node, {under} under-replicated")
        time.sleep(1)


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def median_of(lines, key):
    values = [line[key] for line in lines if line[key] is not None]
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", default="20s")
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--broker-session-timeout-ms", type=int)
    parser.add_argument("--broker-heartbeat-interval-ms", type=int)
    parser.add_argument("--keep-logs", help="copy every node's log here")
    parser.add_argument("--kill-controller", action="store_true",
                        help="kill the leader that is also the active controller")
    parser.add_argument("--restart-controller", action="store_true",
                        help="kill -9 and restart the only voter's node instead of failovers")
    parser.add_argument("--restart-broker", action="store_true",
                        help="kill -9 a broker with the controller's node and restart it after "
                             "a new controller activates, instead of failovers")
    parser.add_argument("--latency-rounds", type=int, default=0,
                        help="fixed-rate latency rounds (each runs every --latency-kinds once) "
                             "instead of the throughput and failover runs")
    parser.add_argument("--latency-kinds", default=",".join(LATENCY_KINDS))
    parser.add_argument("--rate", type=int, default=20000, help="records/s of 1 KiB")
    parser.add_argument("--latency-duration", default="15s")
    parser.add_argument("--latency-warmup", default="5s")
    parser.add_argument("--idle", action="store_true",
                        help="idle inter-broker request rate at 10 and 1,000 partitions (RF=3)")
    parser.add_argument("--idle-window-s", type=int, default=30)
    args = parser.parse_args()
    if args.latency_rounds or args.idle:
        return latency_main(args)
    extra = [f"broker.session.timeout.ms={args.broker_session_timeout_ms}"] if args.broker_session_timeout_ms else []
    if args.broker_heartbeat_interval_ms:
        extra.append(f"broker.heartbeat.interval.ms={args.broker_heartbeat_interval_ms}")
    with tempfile.TemporaryDirectory(prefix="millrace-repl-bench-") as root:
        lines = []
        for round_no in range(args.rounds):
            for kind in ("rf1", "rf3") if round_no % 2 == 0 else ("rf3", "rf1"):
                lines.append(throughput_round(kind, root, args.duration, round_no))
        if args.restart_controller or args.restart_broker:
            round_fn = restart_broker_round if args.restart_broker else restart_controller_round
            restarts = [round_fn(root, r, extra) for r in range(args.failovers)]
            failovers = []
        else:
            restarts = []
            failovers = [failover_round(root, r, extra, args.kill_controller)["seconds"]
                         for r in range(args.failovers)]
        if args.keep_logs:
            for log in Path(root).glob("*-*/cluster/node-*/stderr.log"):
                target = Path(args.keep_logs) / log.parent.parent.parent.name / log.parent.name
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(log, target / "stderr.log")
    summary = {"failover_s": failovers}
    done = [s for s in failovers if s is not None]
    summary["failover_median_s"] = statistics.median(done) if done else None
    if restarts:
        summary = {"registered_s": [r["registered_s"] for r in restarts],
                   "registered_median_s": median_of(restarts, "registered_s"),
                   "first_ack_s": [r["first_ack_s"] for r in restarts],
                   "first_ack_median_s": median_of(restarts, "first_ack_s")}
        if args.restart_broker:
            summary["unfenced_median_s"] = median_of(restarts, "unfenced_s")
    if lines:
        median = {k: statistics.median(l["bytes_per_s"] for l in lines if l["kind"] == k) for k in ("rf1", "rf3")}
        cpu = {k: statistics.median(l["cpu_s_per_gb_per_replica"] for l in lines if l["kind"] == k)
               for k in ("rf1", "rf3")}
        summary.update({"rf1_MBps": round(median["rf1"] / 1e6, 1), "rf3_MBps": round(median["rf3"] / 1e6, 1),
                        "rf3_over_rf1": round(median["rf3"] / median["rf1"], 3),
                        "cpu_s_per_gb_per_replica": cpu,
                        "brokers_disk_write_mb_per_s": {
                            k: statistics.median(l["brokers_disk_write_mb_per_s"] for l in lines if l["kind"] == k)
                            for k in ("rf1", "rf3")}})
    print(json.dumps({"summary": summary}), flush=True)


def latency_main(args):
    kinds = args.latency_kinds.split(",")
    with tempfile.TemporaryDirectory(prefix="millrace-repl-latency-") as root:
        lines = []
        for round_no in range(args.latency_rounds):
            shift = round_no % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:
                lines.append(latency_round(kind, root, round_no, args))
        idle = idle_requests(root, args.idle_window_s) if args.idle else []
    summary = latency_summary(lines)
    if idle:
        summary["idle_requests_per_s"] = {l["partitions"]: l["requests_per_s_by_api"] for l in idle}
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
