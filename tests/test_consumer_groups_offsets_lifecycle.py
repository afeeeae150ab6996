"""Committed offsets over their lifetime: they go when their topic is deleted, when their empty
group outlives offsets.retention.minutes, and when OffsetDelete (key 47) asks, which no client
here exposes (kafka-python 3.0.12 and confluent-kafka 2.x AdminClient lack it), so it is sent raw."""

import os
import time

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

import kafka_wire
from clients import ADMIN_TIMEOUT_S, create_topic, quiet_config, unique_topic

PARTITIONS = 2
DEADLINE_S = 60.0
OFFSET_DELETE_KEY = 47
GROUP_ID_NOT_FOUND = 69
GROUP_SUBSCRIBED_TO_TOPIC = 86
# Kafka's smallest settable retention is one minute; the check runs every second.
RETENTION_MINUTES = 1
RETENTION_CHECK_INTERVAL_MS = 1000
RETENTION_TEST_BUDGET_S = 90.0


def group_consumer(bootstrap, group):
    config = quiet_config(bootstrap)
    config.update({"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    return Consumer(config)


def commit_assigned(bootstrap, group, topic, offsets_by_partition):
    """Commits through an assign() consumer: no membership, so the group stays Empty."""
    consumer = group_consumer(bootstrap, group)
    offsets = [TopicPartition(topic, p, o) for p, o in offsets_by_partition.items()]
    consumer.assign(offsets)
    consumer.commit(offsets=offsets, asynchronous=False)
    consumer.close()


def committed(bootstrap, group, topic, partitions):
    consumer = group_consumer(bootstrap, group)
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def offset_delete(bootstrap, group, topic, partitions):
    """OffsetDelete v0; returns (group error, {partition: error})."""
    body = kafka_wire.kafka_string(group) + kafka_wire.int32(1) + kafka_wire.kafka_string(topic)
    body += kafka_wire.int32(len(partitions)) + b"".join(kafka_wire.int32(p) for p in partitions)
    sock = kafka_wire.connect(bootstrap)
    try:
        reader = kafka_wire.call(sock, OFFSET_DELETE_KEY, 0, 7, body)
    finally:
        sock.close()
    group_error = reader.int16()
    reader.int32()  # throttle time
    errors = {}
    for _ in range(reader.int32()):
        reader.string()
        for _ in range(reader.int32()):
            partition = reader.int32()
            errors[partition] = reader.int16()
    return group_error, errors


def test_offsets_of_a_deleted_topic_are_gone_when_it_is_recreated(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0, "num.shards": 2})
    topic = unique_topic("lifecycle")
    group = unique_topic("lifecycle-g")
    create_topic(b.bootstrap, topic, PARTITIONS)
    consumer = group_consumer(b.bootstrap, group)
    consumer.subscribe([topic])
    deadline = time.monotonic() + DEADLINE_S
    while not consumer.assignment():
        assert time.monotonic() < deadline, "no assignment"
        consumer.poll(0.05)
    consumer.commit(offsets=[TopicPartition(topic, p, 5) for p in range(PARTITIONS)], asynchronous=False)
    consumer.close()
    assert committed(b.bootstrap, group, topic, range(PARTITIONS)) == {0: 5, 1: 5}

    admin = AdminClient(quiet_config(b.bootstrap))
    admin.delete_topics([topic], operation_timeout=ADMIN_TIMEOUT_S)[topic].result(timeout=ADMIN_TIMEOUT_S)
    create_topic(b.bootstrap, topic, PARTITIONS)
    assert committed(b.bootstrap, group, topic, range(PARTITIONS)) == {0: OFFSET_INVALID, 1: OFFSET_INVALID}

    # And the deletion is durable: a restart does not bring them back.
    b.restart()
    assert committed(b.bootstrap, group, topic, range(PARTITIONS)) == {0: OFFSET_INVALID, 1: OFFSET_INVALID}


# Waits out a real minute (Kafka's retention is in minutes): extended mode only. The default suite
# covers the expiry with a fake clock (src/coordinator/mod.rs,
# empty_groups_past_retention_lose_their_offsets_durably).
@pytest.mark.skipif(os.environ.get("MILLRACE_TEST_EXTENDED") != "1",
                    reason="waits out offsets.retention.minutes=1; MILLRACE_TEST_EXTENDED=1 runs it")
def test_offsets_of_an_empty_group_expire_after_retention(broker):
    started = time.monotonic()
    b = broker(
        **{
            "offsets.retention.minutes": RETENTION_MINUTES,
            "offsets.retention.check.interval.ms": RETENTION_CHECK_INTERVAL_MS,
        }
    )
    topic = unique_topic("retention")
    group = unique_topic("retention-g")
    create_topic(b.bootstrap, topic, PARTITIONS)
    commit_assigned(b.bootstrap, group, topic, {0: 3, 1: 4})
    committed_at = time.monotonic()
    assert committed(b.bootstrap, group, topic, range(PARTITIONS)) == {0: 3, 1: 4}
    while True:
        left = committed(b.bootstrap, group, topic, range(PARTITIONS))
        if left == {0: OFFSET_INVALID, 1: OFFSET_INVALID}:
            break
        assert time.monotonic() - started < RETENTION_TEST_BUDGET_S, f"offsets still there: {left}"
        time.sleep(1.0)
    assert time.monotonic() - committed_at >= RETENTION_MINUTES * 60 - 1, "expired before the retention"


def test_offset_delete_removes_one_partition_and_respects_active_subscribers(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0, "num.shards": 2})
    topic = unique_topic("offdel")
    group = unique_topic("offdel-g")
    create_topic(b.bootstrap, topic, PARTITIONS)
    commit_assigned(b.bootstrap, group, topic, {0: 10, 1: 20})

    assert offset_delete(b.bootstrap, group, topic, [0]) == (0, {0: 0})
    assert committed(b.bootstrap, group, topic, range(PARTITIONS)) == {0: OFFSET_INVALID, 1: 20}
    assert offset_delete(b.bootstrap, unique_topic("nobody"), topic, [0])[0] == GROUP_ID_NOT_FOUND

    # An active member subscribed to the topic protects its offsets.
    consumer = group_consumer(b.bootstrap, group)
    consumer.subscribe([topic])
    deadline = time.monotonic() + DEADLINE_S
    while not consumer.assignment():
        assert time.monotonic() < deadline, "no assignment"
        consumer.poll(0.05)
    try:
        assert offset_delete(b.bootstrap, group, topic, [1]) == (0, {1: GROUP_SUBSCRIBED_TO_TOPIC})
        assert committed(b.bootstrap, group, topic, [1]) == {1: 20}
    finally:
        consumer.close()
