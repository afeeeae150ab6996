"""Helpers for the aiokafka tests (tests/test_aiokafka_*.py).

aiokafka implements the Kafka protocol itself in Python (no librdkafka), so it negotiates its
own API versions and request layouts. Every client here has short timeouts so that a broker bug
fails a test in seconds with the client's error, not at the suite timeout.
"""

import asyncio
import time

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

REQUEST_TIMEOUT_MS = 8000
# Bound on one whole test body: a hung client or broker fails the test, not the suite.
TEST_TIMEOUT_S = 20.0
READ_TIMEOUT_S = 10.0
POLL_TIMEOUT_MS = 200
WAIT_INTERVAL_S = 0.05
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 300
# Test brokers skip the wait for more members before a new group's first rebalance (3 s).
GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": 0}


def run(coroutine, timeout_s=TEST_TIMEOUT_S):
    """Runs one async test body under a deadline (pytest functions stay plain)."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))


def admin_client(bootstrap):
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS)


async def committed_offsets(bootstrap, group):
    """The group's committed offsets as {TopicPartition: offset}, read with the admin client."""
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items()}


async def create_topic(bootstrap, topic, partitions, configs=None):
    """CreateTopics through aiokafka's admin client; fails on any per-topic error code."""
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(topic, partitions, 1, topic_configs=configs or {})], timeout_ms=REQUEST_TIMEOUT_MS
        )
        errors = [(t[0], t[1]) for t in response.topic_errors if t[1] != 0]
        assert not errors, f"CreateTopics errors (topic, code): {errors}"
    finally:
        await admin.close()


async def wait_until(condition, what, timeout_s=READ_TIMEOUT_S):
    """Polls an async condition until it is true; fails naming `what` past the deadline."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = await condition()
        if last:
            return last
        await asyncio.sleep(WAIT_INTERVAL_S)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


def plain_consumer(bootstrap, **config):
    """A consumer without a group, for assign()/seek use."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        **config,
    )


async def drain(consumer, expected_count, timeout_s=READ_TIMEOUT_S):
    """getmany() until `expected_count` records came; returns them as
    {partition: [ConsumerRecord, ...]} in delivery order. Fails on a short read."""
    received = {}
    count = 0
    deadline = time.monotonic() + timeout_s
    while count < expected_count and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
        for tp, records in batches.items():
            received.setdefault(tp.partition, []).extend(records)
            count += len(records)
    assert count >= expected_count, f"read {count} of {expected_count} records within {timeout_s}s"
    return received


async def read_topic(bootstrap, topic, partitions, expected_count):
    """Reads every partition of `topic` from the beginning; returns {partition: [records]}
    and checks nothing beyond `expected_count` arrives (no duplicate or stray append)."""
    consumer = plain_consumer(bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        received = await drain(consumer, expected_count)
        extra = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
        assert not any(extra.values()), f"records beyond the {expected_count} produced: {extra}"
        return received
    finally:
        await consumer.stop()


def assert_offsets_contiguous(received):
    for partition, records in received.items():
        offsets = [r.offset for r in records]
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), (
            f"partition {partition}: offsets not contiguous or out of order: {offsets[:20]}..."
        )


def group_consumer(bootstrap, topic, group, **overrides):
    """A member of `group` subscribed to `topic`; by default commits only when told and
    starts at the earliest offset."""
    config = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=f"{group}-member",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    config.update(overrides)
    return AIOKafkaConsumer(topic, **config)


async def wait_for_split(members, partitions):
    """Waits until the members hold disjoint, non-empty shares covering every partition."""

    async def split():
        shares = [member.assignment() for member in members]
        if any(len(share) != partitions // len(members) for share in shares):
            return None
        union = set().union(*shares)
        return shares if len(union) == partitions else None

    return await wait_until(split, "the members to split every partition evenly")
