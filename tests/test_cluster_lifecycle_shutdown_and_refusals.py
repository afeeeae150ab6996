"""Issue 12, the broker lifecycle of a 3-node cluster (KRaft files, num.shards=1 each):
- SIGTERM is a controlled shutdown: the broker's leaderships move to the other replicas before
  it exits (exit 0), so the others' Metadata shows the new leaders and an ISR without it at
  once, not after the 9 s session timeout a kill -9 waits for; clients keep producing and
  consuming through the new leaders.
- A second broker started with the node.id of a live broker is refused: exit 1, naming node.id.
  (A second process.roles=broker,controller node with a voter's node.id is not covered here.)
- A broker of another cluster id (its cluster.id) is refused: exit 1, naming cluster.id.
Both refused nodes are broker-only nodes with their own directory and ports.
- Stopped one after another, the last node (alone: no quorum can answer its controlled shutdown)
  stops once it sees that, saying why, instead of waiting out the 20 s bound."""

import base64
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire
from clients import new_producer, produce_all, quiet_config, unique_topic
from test_cluster_three_brokers_serve_clients import wait_for_brokers, wait_for_topics

pytestmark = pytest.mark.timeout(240)
ADMIN_TIMEOUT_S = 30
PARTITIONS = 6
# The session timeout (9 s) fences a silent broker; a controlled shutdown must not need it.
# Each broker applies the committed moves a moment after the controller commits them.
MOVED_WITHIN_S = 5
# A refused node exits once its registration is refused (another cluster id) or, for a
# duplicate node.id, after its initial.broker.registration.timeout.ms (set low here).
REGISTRATION_TIMEOUT_MS = 5000
REFUSED_WITHIN_S = 60
EXIT_REFUSED = 1


def partitions_of(bootstrap, topic):
    admin = AdminClient(quiet_config(bootstrap))
    return admin.list_topics(topic, timeout=ADMIN_TIMEOUT_S).topics[topic].partitions


def test_sigterm_moves_leaderships_away_before_the_exit(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    for node_id in (1, 2, 3):
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    topic = unique_topic("cluster-shutdown")
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    admin.create_topics([NewTopic(topic, PARTITIONS, replication_factor=3)])[topic].result(
        timeout=ADMIN_TIMEOUT_S)
    for node_id in (1, 2, 3):
        wait_for_topics(cluster.node(node_id).bootstrap, [topic])
    before = partitions_of(cluster.node(1).bootstrap, topic)
    led_by_three = sorted(p.id for p in before.values() if p.leader == 3)
    assert led_by_three, {p.id: p.leader for p in before.values()}

    assert cluster.stop(3) == 0, cluster.node(3).stderr_tail()
    exited = time.monotonic()
    log = cluster.node(3).stderr_tail(100_000)
    assert "controlled shutdown: moving leaderships away" in log, log[-3000:]
    assert "controlled shutdown: no answer" not in log, log[-3000:]

    for node_id in (1, 2):
        bootstrap = cluster.node(node_id).bootstrap
        while True:
            seen = partitions_of(bootstrap, topic)
            moved = all(p.leader in (1, 2) and 3 not in p.isrs for p in seen.values())
            if moved:
                break
            assert time.monotonic() - exited < MOVED_WITHIN_S, (
                f"broker {node_id} still shows broker 3 leading or in the ISR "
                f"{MOVED_WITHIN_S}s after its controlled shutdown: "
                f"{ {p.id: (p.leader, p.isrs) for p in seen.values()} }")
            time.sleep(0.1)
        for partition in led_by_three:
            assert seen[partition].leader in (1, 2) and sorted(seen[partition].replicas) == [1, 2, 3]

    # Producers go on through the new leaders: every partition takes records, and its leader
    # serves them back. (Read with Fetch v4, which names no leader epoch: a consumer naming the
    # epoch from Metadata, as librdkafka and Java do, is refused UNKNOWN_LEADER_EPOCH by a new
    # leader until partitions take their epoch from the cluster metadata, issue 13.)
    messages = [(f"k{i}".encode(), f"after-{i}".encode()) for i in range(PARTITIONS * 20)]
    survivors = f"{cluster.node(1).bootstrap},{cluster.node(2).bootstrap}"
    producer = new_producer(survivors)
    for partition in range(PARTITIONS):
        delivered = produce_all(producer, topic, messages[partition::PARTITIONS], partition=partition)
        assert not delivered.errors, (partition, delivered.errors[:3])
    for partition, described in seen.items():
        with kafka_wire.connect(cluster.node(described.leader).bootstrap) as sock:
            answer = kafka_wire.fetch_v4(sock, 1, topic, {partition: 0})
        error_code, _, records = answer[partition]
        assert error_code == 0, (partition, described.leader, error_code)
        values = [value for _, _, value in kafka_wire.decode_record_batches(records)]
        assert [v for v in values if v.startswith(b"after-")] == [
            value for _, value in messages[partition::PARTITIONS]], (partition, values)


def test_the_last_node_stops_without_waiting_for_a_quorum_that_is_gone(millrace_cluster):
    # Stopped one after another (as an operator or a rolling script does): the first two are let
    # go by the controller; the last one is alone, and no quorum can answer its controlled
    # shutdown. It must see that and stop, not sit out the 20 s bound (it did before).
    cluster = millrace_cluster(brokers=3)
    for node_id in (1, 2, 3):
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    for node_id in (1, 2, 3):
        assert cluster.stop(node_id) == 0, cluster.node(node_id).stderr_tail()
    for node_id in (1, 2):
        log = cluster.node(node_id).stderr_tail(100_000)
        assert "controlled shutdown: no" not in log, log[-3000:]
    last = cluster.node(3).stderr_tail(100_000)
    assert "controlled shutdown: no answer in" not in last, last[-3000:]
    assert "controlled shutdown: no controller quorum can answer" in last, last[-3000:]


def refused(node, timeout_s=REFUSED_WITHIN_S):
    """The node's exit code and its log, once it exited on its own."""
    try:
        code = node.process.wait(timeout=timeout_s)
    except Exception:  # noqa: BLE001 (TimeoutExpired: reported with the log)
        pytest.fail(f"node {node.node_id} still running after {timeout_s}s\n{node.stderr_tail()}")
    return code, node.stderr_tail()


def test_a_second_broker_with_a_live_node_id_is_refused_naming_the_key(millrace_cluster):
    # Three voters and broker 4 (process.roles=broker): a broker-only twin of 4 is what an
    # operator's copied file makes (a broker-only node.id among the voters is a config error).
    cluster = millrace_cluster(brokers=4)
    for node_id in (1, 2, 3, 4):
        wait_for_brokers(cluster.node(node_id).bootstrap, 4)
    twin = cluster.launch_stranger(4, extra=(
        f"initial.broker.registration.timeout.ms={REGISTRATION_TIMEOUT_MS}",))
    code, log = refused(twin)
    assert code == EXIT_REFUSED, log
    assert "millrace serve: node.id: another live broker is registered with node.id 4" in log, log
    # The live broker 4 is untouched: still listed, still serving.
    assert cluster.node(4).alive()
    metadata = wait_for_brokers(cluster.node(1).bootstrap, 4)
    assert {b.id: b.port for b in metadata.brokers.values()}[4] == cluster.node(4).port


def other_cluster_id():
    """A cluster id as `kafka-storage random-uuid` prints it, never this cluster's."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def test_a_broker_of_another_cluster_id_is_refused_naming_the_key(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    for node_id in (1, 2, 3):
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    foreign = cluster.launch_stranger(4, extra=(
        f"cluster.id={other_cluster_id()}",
        f"initial.broker.registration.timeout.ms={REGISTRATION_TIMEOUT_MS}",
    ))
    code, log = refused(foreign)
    assert code == EXIT_REFUSED, log
    assert "millrace serve: cluster.id: this node's cluster id" in log, log
    assert "is not the cluster id of the controllers at controller.quorum.voters" in log, log
    metadata = wait_for_brokers(cluster.node(1).bootstrap, 3)
    assert sorted(b.id for b in metadata.brokers.values()) == [1, 2, 3]
