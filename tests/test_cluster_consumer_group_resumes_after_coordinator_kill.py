"""A consumer group outlives the kill -9 of its coordinator's broker (issue 13, "Consumer
offsets"; Kafka's replicated `__consumer_offsets`).

On 3 brokers, a group coordinated away from the Raft leader reads part of an RF=3 topic and
commits what it read. Its coordinator's broker is then killed -9. Once the broker is fenced, the
leader of the group's offsets partition has moved, and a member of the same group, asking a
survivor, resumes exactly at the commits: the first record it reads in each partition is the
committed offset, and it reads every later record once (nothing skipped, nothing reread beyond
the last commit). Done with confluent-kafka (librdkafka) and with the Java client (Kafka's
console consumer and kafka-consumer-groups).
"""

import re
import time

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clients import group_consumer, new_producer, produce_all, quiet_config, unique_topic
from java_clients import tool_ok
from test_cluster_consumer_offsets import coordinator_seen_by
from test_cluster_failover_restart_and_join import FENCE_TIMEOUT_S, wait_for_topic
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers

pytestmark = pytest.mark.timeout(300)
PARTITIONS = 3
RECORDS_PER_PARTITION = 120
FIRST_READ = 150
DEADLINE_S = 90.0
CREATE_TIMEOUT_S = 60
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
GROUP_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def create_rf3_topic(bootstrap):
    topic = unique_topic("resume")
    deadline = time.monotonic() + CREATE_TIMEOUT_S
    while True:
        admin = AdminClient(quiet_config(bootstrap))
        future = admin.create_topics([NewTopic(topic, PARTITIONS, replication_factor=3)], request_timeout=10)[topic]
        try:
            future.result(timeout=15)
            break
        except Exception as error:  # noqa: BLE001 (retried until the deadline)
            if "TOPIC_ALREADY_EXISTS" in str(error):
                break
            assert time.monotonic() < deadline, f"CreateTopics {topic}: {error}"
            time.sleep(0.2)
    wait_for_topic(bootstrap, topic)
    producer = new_producer(bootstrap, acks="all")
    for partition in range(PARTITIONS):
        records = ((None, f"{partition}-{i}".encode()) for i in range(RECORDS_PER_PARTITION))
        produce_all(producer, topic, records, partition=partition)
    return topic


def group_away_from(cluster, avoid):
    """A fresh group id whose coordinator is not broker `avoid`, and its coordinator."""
    while True:
        group = unique_topic("resume-g")
        coordinator = coordinator_seen_by(cluster.node(avoid).bootstrap, group)
        if coordinator != avoid:
            return group, coordinator


def read_some_and_commit_with_confluent(bootstrap, group, topic):
    """Reads about FIRST_READ records, commits what was read; returns the commits."""
    consumer = group_consumer(bootstrap, group)
    try:
        consumer.subscribe([topic])
        read = 0
        deadline = time.monotonic() + DEADLINE_S
        while read < FIRST_READ:
            assert time.monotonic() < deadline, f"read {read} records"
            read += sum(1 for m in consumer.consume(num_messages=50, timeout=0.2) if m.error() is None)
        committed = consumer.commit(asynchronous=False)
        return {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
    finally:
        consumer.close()


def read_rest_with_confluent(bootstrap, group, topic, expected):
    """Every (partition, offset) a new member reads until it has `expected` records."""
    consumer = group_consumer(bootstrap, group)
    try:
        consumer.subscribe([topic])
        seen = []
        deadline = time.monotonic() + DEADLINE_S
        while len(seen) < expected:
            assert time.monotonic() < deadline, f"read {len(seen)} of {expected}"
            for msg in consumer.consume(num_messages=200, timeout=0.2):
                if msg.error() is None:
                    seen.append((msg.partition(), msg.offset()))
        # A short extra poll: anything beyond the log end would be a reread.
        for msg in consumer.consume(num_messages=200, timeout=1.0):
            if msg.error() is None:
                seen.append((msg.partition(), msg.offset()))
        return seen
    finally:
        consumer.close()


def committed_with_java(bootstrap, group):
    """The group's committed offsets as kafka-consumer-groups (Java AdminClient) lists them."""
    out = tool_ok(GROUP_TOOL, "--bootstrap-server", bootstrap, "--describe", "--group", group)
    rows = [line.split() for line in out.splitlines() if line.strip()]
    assert rows and rows[0][:4] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET"], out
    return {int(row[2]): int(row[3]) for row in rows[1:] if row[3] != "-"}


def read_with_java_console(bootstrap, group, topic, count):
    """(partition, offset) of `count` records the Java console consumer reads as a member of
    `group` (from its commits; it commits what it read when it exits)."""
    out = tool_ok(CONSOLE_CONSUMER, "--bootstrap-server", bootstrap, "--topic", topic,
                  "--group", group, "--max-messages", str(count),
                  "--command-property", "auto.offset.reset=earliest",
                  "--timeout-ms", str(int(DEADLINE_S * 1000)),
                  "--formatter-property", "print.partition=true",
                  "--formatter-property", "print.offset=true",
                  timeout_s=DEADLINE_S + 60)
    seen = []
    for line in out.splitlines():
        partition = re.search(r"Partition:(\d+)", line)
        offset = re.search(r"Offset:(\d+)", line)
        if partition and offset:
            seen.append((int(partition.group(1)), int(offset.group(1))))
    assert len(seen) == count, out[-2000:]
    return seen


def check_resumed_exactly(seen, commits, label):
    by_partition = {}
    for partition, offset in seen:
        by_partition.setdefault(partition, []).append(offset)
    for partition in range(PARTITIONS):
        start = commits.get(partition, 0)
        expected = list(range(start, RECORDS_PER_PARTITION))
        got = sorted(by_partition.get(partition, []))
        assert got == expected, (
            f"{label}: partition {partition} committed at {start}; read {got[:5]}...{got[-5:]} "
            f"({len(got)} records, expected {len(expected)} from {start})"
        )


def kill_the_coordinator(cluster, coordinator, survivor):
    cluster.kill(coordinator)
    wait_for_brokers(cluster.node(survivor).bootstrap, 2, FENCE_TIMEOUT_S)


@pytest.mark.parametrize("client", ["confluent-kafka", "java"])
def test_group_resumes_at_its_commits_after_kill9_of_the_coordinator(millrace_cluster, client):
    cluster = millrace_cluster(brokers=3, extra=["group.initial.rebalance.delay.ms=0"])
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    _, raft_leader, _, _, _, _ = describe_quorum_v0(cluster.node(1).bootstrap)
    survivor = cluster.node(raft_leader).bootstrap
    topic = create_rf3_topic(survivor)
    group, coordinator = group_away_from(cluster, raft_leader)

    if client == "confluent-kafka":
        commits = read_some_and_commit_with_confluent(survivor, group, topic)
    else:
        read_with_java_console(survivor, group, topic, FIRST_READ)
        commits = committed_with_java(survivor, group)
    assert sum(commits.values()) >= FIRST_READ, commits

    kill_the_coordinator(cluster, coordinator, raft_leader)
    assert coordinator_seen_by(survivor, group) != coordinator

    rest = PARTITIONS * RECORDS_PER_PARTITION - sum(commits.values())
    if client == "confluent-kafka":
        seen = read_rest_with_confluent(survivor, group, topic, rest)
    else:
        assert committed_with_java(survivor, group) == commits
        seen = read_with_java_console(survivor, group, topic, rest)
    check_resumed_exactly(seen, commits, client)
