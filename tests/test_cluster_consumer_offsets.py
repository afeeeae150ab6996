"""Committed offsets in a 3-broker cluster (issue 13, "Consumer offsets").

- Each group has one coordinator, the same whichever broker a client asks; commits made with
  confluent-kafka (librdkafka) through one bootstrap broker are read back with kafka-python
  through another, and a new member resumes from them.
- Killing the coordinator's broker must not lose the group's commits: the new coordinator (the
  new leader of the group's `__consumer_offsets` partition) has them.
"""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaPythonTopicPartition

import kafka_wire
from clients import group_consumer, new_producer, produce_all, quiet_config, unique_topic
from test_cluster_failover_restart_and_join import FENCE_TIMEOUT_S, create_until_done, wait_for_topic
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers

PARTITIONS = 3
RECORDS_PER_PARTITION = 200
# Random group names land on the three brokers by their hash: with 6 groups all of them had one
# coordinator in a CI run (3 * 3^-6, 0.4%); with 12 that is 3 * 3^-12, about 6 in a million.
GROUPS = 12
CREATE_TIMEOUT_S = 60
ADMIN_TIMEOUT_S = 30
DEADLINE_S = 60.0
COORDINATOR_MOVING = (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                      KafkaError.COORDINATOR_LOAD_IN_PROGRESS)


def commits_for(index):
    return {p: 5 * index + 11 * p + 3 for p in range(PARTITIONS)}


def filled_topic(bootstrap):
    topic = unique_topic("coff")
    create_until_done(bootstrap, topic, PARTITIONS, CREATE_TIMEOUT_S)
    wait_for_topic(bootstrap, topic)
    producer = new_producer(bootstrap)
    for partition in range(PARTITIONS):
        produce_all(producer, topic, ((None, b"x") for _ in range(RECORDS_PER_PARTITION)), partition=partition)
    return topic


def commit_with_confluent(bootstrap, group, topic, offsets):
    consumer = group_consumer(bootstrap, group)
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def committed_with_kafka_python(bootstrap, group, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(KafkaPythonTopicPartition(topic, p)) for p in range(PARTITIONS)}
    finally:
        consumer.close()


def committed_with_confluent(bootstrap, group, topic):
    """The group's commits, asked again while the coordinator moves: a broker that has not yet
    applied the new leader of the group's offsets partition answers NOT_COORDINATOR, a new
    leader COORDINATOR_LOAD_IN_PROGRESS while it loads (retriable, as with Kafka)."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        consumer = group_consumer(bootstrap, group)
        try:
            found = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=15)
            return {tp.partition: tp.offset for tp in found}
        except KafkaException as error:
            moving = error.args[0].code() in COORDINATOR_MOVING
            if not (moving or error.args[0].retriable()) or time.monotonic() > deadline:
                raise
        finally:
            consumer.close()
        time.sleep(0.2)


def coordinator_seen_by(bootstrap, group):
    """The coordinator's node id, asked through `bootstrap` (DescribeGroups after
    FindCoordinator), retried while the cluster settles."""
    admin = AdminClient(quiet_config(bootstrap))
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        try:
            described = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
            return described.coordinator.id
        except Exception as error:  # noqa: BLE001 (retried until the deadline)
            last = error
            time.sleep(0.2)
    pytest.fail(f"no coordinator for {group} through {bootstrap}: {last}")


def first_offsets_read(bootstrap, group, topic):
    consumer = group_consumer(bootstrap, group)
    try:
        consumer.subscribe([topic])
        first = {}
        deadline = time.monotonic() + DEADLINE_S
        while len(first) < PARTITIONS:
            assert time.monotonic() < deadline, f"first offsets so far {first}"
            for msg in consumer.consume(num_messages=1000, timeout=0.1):
                if msg.error() is None:
                    first.setdefault(msg.partition(), msg.offset())
        return first
    finally:
        consumer.close()


def test_commits_go_to_one_coordinator_and_read_back_with_another_client(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=["group.initial.rebalance.delay.ms=0"])
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    topic = filled_topic(cluster.node(1).bootstrap)
    groups = [unique_topic(f"coff-g{i}") for i in range(GROUPS)]
    for index, group in enumerate(groups):
        commit_with_confluent(cluster.node(1).bootstrap, group, topic, commits_for(index))
    coordinators = set()
    for index, group in enumerate(groups):
        seen = {coordinator_seen_by(cluster.node(i).bootstrap, group) for i in (1, 2, 3)}
        assert len(seen) == 1, f"{group}: brokers name different coordinators {seen}"
        coordinators |= seen
        found = committed_with_kafka_python(cluster.node(3).bootstrap, group, topic)
        assert found == commits_for(index), f"{group}: {found}"
    # Twelve groups over three brokers: the coordinators are spread, not all on one broker.
    assert len(coordinators) > 1, coordinators
    assert first_offsets_read(cluster.node(2).bootstrap, groups[0], topic) == commits_for(0)


def test_commits_survive_the_loss_of_the_coordinators_broker(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=["group.initial.rebalance.delay.ms=0"])
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    _, raft_leader, _, _, _, _ = describe_quorum_v0(cluster.node(1).bootstrap)
    topic = filled_topic(cluster.node(raft_leader).bootstrap)
    # A group coordinated away from the Raft leader, so the kill does not also move the controller.
    group, coordinator = None, raft_leader
    while coordinator == raft_leader:
        group = unique_topic("coff-kill")
        coordinator = coordinator_seen_by(cluster.node(raft_leader).bootstrap, group)
    commit_with_confluent(cluster.node(raft_leader).bootstrap, group, topic, commits_for(1))
    cluster.kill(coordinator)
    survivor = cluster.node(raft_leader).bootstrap
    wait_for_brokers(survivor, 2, FENCE_TIMEOUT_S)
    found = committed_with_confluent(survivor, group, topic)
    assert found == commits_for(1), f"after the loss of broker {coordinator}: {found}"


NOT_COORDINATOR = 16
COORDINATOR_LOAD_IN_PROGRESS = 14


def join_group_error(broker, group):
    with kafka_wire.connect(broker.bootstrap) as sock:
        return kafka_wire.join_group_v1(sock, 1, group, session_timeout_ms=6000, rebalance_timeout_ms=6000)


def wait_for_join_error(broker, group, expected):
    deadline = time.monotonic() + DEADLINE_S
    while (error := join_group_error(broker, group)) != expected:
        assert time.monotonic() < deadline, (broker.node_id, group, error, expected)
        time.sleep(0.2)


def test_a_broker_that_has_not_applied_the_offsets_topic_yet_answers_load_in_progress(millrace_cluster):
    """A FindCoordinator that creates `__consumer_offsets` names the coordinator as soon as the
    broker answering it has applied the topic; the coordinator itself may apply it a few ms later.
    What it answered meanwhile was NOT_COORDINATOR, on which librdkafka asks FindCoordinator
    again, is sent to the same broker, and never fetches the committed offsets of an assign()ed
    partition again: the consumer read nothing, for good. A broker whose cluster view has no
    `__consumer_offsets` yet (or names it leader of a partition it has not opened yet) answers
    COORDINATOR_LOAD_IN_PROGRESS, which every client retries."""
    cluster = millrace_cluster(brokers=3, extra=["group.initial.rebalance.delay.ms=0"])
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    group = unique_topic("early-group")
    # Before: NOT_COORDINATOR from each.
    assert [join_group_error(cluster.node(b), group) for b in (1, 2, 3)] == [COORDINATOR_LOAD_IN_PROGRESS] * 3
    deadline = time.monotonic() + DEADLINE_S
    with kafka_wire.connect(cluster.node(1).bootstrap) as sock:
        while (found := kafka_wire.find_coordinator_v1(sock, 2, group))[0] != 0:
            assert time.monotonic() < deadline, found
            time.sleep(0.2)
    coordinator = found[1]
    wait_for_join_error(cluster.node(coordinator), group, 0)
    for other in {1, 2, 3} - {coordinator}:
        wait_for_join_error(cluster.node(other), group, NOT_COORDINATOR)
