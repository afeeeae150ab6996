"""One Jepsen-style run: a proxied 3-broker cluster, an RF=3 topic with min.insync.replicas=2,
idempotent acks=all producers and consumers recording a history while the nemesis cycles
faults; then heal, read everything back, and check the history and the replicas' logs.

Cycles: MILLRACE_JEPSEN_CYCLES when set, else 100 in the extended mode
(MILLRACE_TEST_JEPSEN_EXTENDED=1), else the caller's default (DEFAULT_CYCLES).
"""

import os
import time

from confluent_kafka.admin import AdminClient, NewTopic

from jepsen import checker, workload
from jepsen import history as h
from jepsen.nemesis import Nemesis

DEFAULT_CYCLES = 10
EXTENDED_CYCLES = 100
PARTITIONS = 3
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
PRODUCERS = 3
CONSUMERS = 2
PRODUCE_RATE_PER_S = 40
FAULT_S = 4.0
RECOVER_S = 4.0
# After healing: time for the cluster to settle (elections, followers catching up) before the
# final read, and the bound on the wait for replicas to agree.
SETTLE_S = 5.0
REPLICAS_AGREE_TIMEOUT_S = 15.0
# A consumer (thread or JVM) closes within this once asked to stop.
CONSUMER_STOP_TIMEOUT_S = 30
TOPIC_READY_TIMEOUT_S = 30.0
# Broker settings of every node: Kafka's defaults for a durable topic.
BROKER_EXTRA = (
    f"min.insync.replicas={MIN_INSYNC_REPLICAS}",
    f"default.replication.factor={REPLICATION_FACTOR}",
    "unclean.leader.election.enable=false",
)


def cycles(default=DEFAULT_CYCLES):
    explicit = os.environ.get("MILLRACE_JEPSEN_CYCLES")
    if explicit:
        return int(explicit)
    if os.environ.get("MILLRACE_TEST_JEPSEN_EXTENDED") == "1":
        return EXTENDED_CYCLES
    return default


def create_topic(bootstrap, topic, partitions=PARTITIONS):
    """Creates an RF=3 topic with min.insync.replicas=2 and waits until every partition has a
    leader; returns {partition: leader}."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    spec = NewTopic(topic, num_partitions=partitions, replication_factor=REPLICATION_FACTOR,
                    config={"min.insync.replicas": str(MIN_INSYNC_REPLICAS)})
    admin.create_topics([spec])[topic].result(timeout=30)
    deadline = time.monotonic() + TOPIC_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        found = workload.leaders(bootstrap, topic)
        if len(found) == partitions and all(leader >= 0 for leader in found.values()):
            return found
        time.sleep(0.2)
    raise TimeoutError(f"{topic} has no leader for every partition after {TOPIC_READY_TIMEOUT_S}s")


def wait_replicas_agree(cluster, topic, hws):
    """Replica differences below each hw, polled until none or the timeout (followers may still
    be catching up right after healing)."""
    log_dirs = {i: node.data_dir for i, node in cluster.nodes.items()}
    deadline = time.monotonic() + REPLICAS_AGREE_TIMEOUT_S
    while True:
        found = [d for p, hw in hws.items() for d in checker.compare_replicas(log_dirs, topic, p, hw)]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def jepsen_run(cluster, proxies, history_path, seed, cycle_count, extra_producers=(),
               extra_consumers=()):
    """Runs the workload under the nemesis and returns the checker's Result (not asserted:
    the caller decides). `extra_producers` and `extra_consumers` are started and stopped with
    the others of their kind: objects with start(), stop(), join(timeout) (e.g. a Java client
    process)."""
    topic = "jepsen"
    create_topic(cluster.bootstrap, topic)
    history = h.History(history_path)
    producers = [workload.Producer(f"py{i}", cluster.bootstrap, topic, PARTITIONS, history,
                                   PRODUCE_RATE_PER_S) for i in range(PRODUCERS)]
    consumers = [workload.Consumer(f"c{i}", cluster.bootstrap, topic, PARTITIONS, history)
                 for i in range(CONSUMERS)]
    clients = [*producers, *consumers, *extra_producers, *extra_consumers]
    nemesis = Nemesis(cluster, history, topic, lambda t: workload.leaders(cluster.bootstrap, t),
                      seed, proxies)
    for client in clients:
        client.start()
    try:
        time.sleep(RECOVER_S)
        nemesis.run(cycle_count, FAULT_S, RECOVER_S)
    finally:
        nemesis.heal()
        for client in [*producers, *extra_producers]:
            client.stop()
        for client in [*producers, *extra_producers]:
            client.join(workload.FLUSH_TIMEOUT_S + 10)
    time.sleep(SETTLE_S)
    for consumer in [*consumers, *extra_consumers]:
        consumer.stop()
    for consumer in [*consumers, *extra_consumers]:
        consumer.join(CONSUMER_STOP_TIMEOUT_S)
    hws = workload.final_read(cluster.bootstrap, topic, PARTITIONS, history)
    history.close()
    failures = [c.failure for c in clients if getattr(c, "failure", None)]
    if failures:
        raise RuntimeError(f"a client thread failed: {failures!r}")
    result = checker.check(h.load(history_path))
    result.anomalies["replicas-differ"].extend(wait_replicas_agree(cluster, topic, hws))
    result.stats["faults"] = dict(nemesis.counts)
    result.stats["hw"] = hws
    result.stats["partitions"] = workload.partition_states(cluster.bootstrap, topic)
    if proxies is not None:
        result.stats["proxied-peers"] = proxies.stats()
    return result
