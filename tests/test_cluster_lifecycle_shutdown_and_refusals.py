"""Issue 12, the broker lifecycle of a 3-node cluster (KRaft files, num.shards=1 each):
- SIGTERM is a controlled shutdown: the broker's leaderships move to the other replicas before
  it exits (exit 0), so the others' Metadata shows the new leaders and an ISR without it at
  once, not after the 9 s session timeout a kill -9 waits for; clients keep producing and
  consuming through the new leaders.
- A second broker started with the node.id of a live broker is refused: exit 1, naming node.id.
- So is a voter's twin: a process.roles=broker,controller node with the node.id of the live Raft
  leader and the same controller.quorum.voters line (its own data dir, client and CONTROLLER
  ports), at start and before any Raft instance runs: exit 1 within 10 s, naming
  controller.quorum.voters. An exact copy but for log.dirs (the same ports) is refused as a port
  in use. After both, the quorum keeps its leader, epoch and three voters, the original keeps its
  registration, and clients produce and consume through every broker.
- A broker of another cluster id (its cluster.id) is refused: exit 1, naming cluster.id.
The refused nodes have their own directory and ports.
- Stopped one after another, the last node (alone: no quorum can answer its controlled shutdown)
  stops once it sees that, saying why, instead of waiting out the 20 s bound."""

import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire
from conftest import HOST
from clients import consume_all, new_producer, produce_all, quiet_config, unique_topic
from kraft_files import kafka_uuid
from test_cluster_three_brokers_serve_clients import (describe_quorum_v0, wait_for_brokers,
                                                      wait_for_topics)

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
# A voter's twin is refused at start, before any Raft instance runs: far sooner than the 60 s
# initial.broker.registration.timeout.ms a twin once ran for. The exact copy's listener probe
# waits up to 5 s for a departing listener before it refuses.
TWIN_REFUSED_WITHIN_S = 10
TWIN_RAFT_STARTED = "metadata quorum started as a voter"


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


def test_a_voters_twin_is_refused_and_the_quorum_and_clients_carry_on(millrace_cluster):
    # An operator's copied server.properties of a controller, started elsewhere with a fresh
    # log.dirs and other ports: the same node.id and controller.quorum.voters as the live Raft
    # leader (the voter whose identity matters most). An empty-log Raft instance claiming a
    # voter's id could grant votes that voter already gave away, so the twin is refused at
    # start, before any Raft instance runs: its CONTROLLER listener is not where the voters line
    # names node `leader`. Neither its attempt nor its exit may disturb the quorum or brokers.
    cluster = millrace_cluster(brokers=3)
    for node_id in (1, 2, 3):
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    error, leader, epoch, _, voters, _ = describe_quorum_v0(cluster.node(1).bootstrap)
    assert error == 0 and leader in (1, 2, 3) and sorted(v for v, _ in voters) == [1, 2, 3]

    twin = cluster.launch_stranger(leader, voter=True)
    assert "process.roles=broker,controller" in twin.config_file.read_text()
    code, log = refused(twin, timeout_s=TWIN_REFUSED_WITHIN_S)
    assert code == EXIT_REFUSED, log
    named = f"{HOST}:{cluster.controller_ports[leader]}"
    assert (f"controller.quorum.voters names node {leader} at {named}, but this node's "
            f"CONTROLLER listener is {HOST}:{twin.controller_port}") in log, log
    assert TWIN_RAFT_STARTED not in log, log
    # The same file but for log.dirs (same ports, same host): the listener probe refuses it.
    copy = cluster.launch_stranger(leader, voter=True, ports=(
        cluster.node(leader).port, cluster.controller_ports[leader]))
    code, log = refused(copy, timeout_s=TWIN_REFUSED_WITHIN_S)
    assert code == EXIT_REFUSED, log
    assert f"cannot listen on {HOST}:{cluster.node(leader).port} (listener PLAINTEXT)" in log, log
    assert "another process (a millrace or Kafka broker?) is listening on it" in log, log
    assert TWIN_RAFT_STARTED not in log, log

    # A topic led by every broker takes records through a real client and gives them back.
    topic = unique_topic("voter-twin")
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    admin.create_topics([NewTopic(topic, 3, replication_factor=1)])[topic].result(
        timeout=ADMIN_TIMEOUT_S)
    described = wait_for_topics(cluster.bootstrap, [topic])[topic].partitions
    assert sorted(p.leader for p in described.values()) == [1, 2, 3], described
    messages = [(f"k{i}".encode(), f"twin-{i}".encode()) for i in range(90)]
    producer = new_producer(cluster.bootstrap)
    for partition in range(3):
        delivered = produce_all(producer, topic, messages[partition::3], partition=partition)
        assert not delivered.errors, (partition, delivered.errors[:3])
    got = consume_all(cluster.node(leader).bootstrap, topic, 3)
    assert {p: [v for _, _, v in records] for p, records in got.items()} == {
        p: [v for _, v in messages[p::3]] for p in range(3)}, got

    # The quorum never noticed: every node names the same leader at the same epoch, with the
    # three voters' log end offsets known; the original voter runs and keeps its registration.
    assert cluster.node(leader).alive(), cluster.node(leader).stderr_tail()
    for node_id in (1, 2, 3):
        seen = describe_quorum_v0(cluster.node(node_id).bootstrap)
        assert seen[:3] == (0, leader, epoch), (node_id, seen, "before:", leader, epoch)
        assert sorted(v for v, _ in seen[4]) == [1, 2, 3] and all(end >= 0 for _, end in seen[4]), seen
        metadata = wait_for_brokers(cluster.node(node_id).bootstrap, 3)
        ports = {b.id: b.port for b in metadata.brokers.values()}
        assert ports == {i: cluster.node(i).port for i in (1, 2, 3)}, (node_id, ports)


def other_cluster_id():
    """A cluster id as `kafka-storage random-uuid` prints it, never this cluster's."""
    return kafka_uuid()


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
