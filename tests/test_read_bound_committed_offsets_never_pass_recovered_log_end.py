"""Offsets are never reused under a consumer (issue 10, item 2). acks=0 records whose segment
writes the test-only fault plan holds back are in the broker's memory only; a consumer group
member polls and commits what it read, the broker is killed (SIGKILL) and restarted without
faults. What the consumer committed must never pass the recovered log end: otherwise the next
records produced get offsets the group already consumed (and skips them), with other data."""

import time

from confluent_kafka import TopicPartition

from clients import create_topic, group_consumer, latest_offset, new_producer, produce_all, unique_topic

ALLOW_ENV = "MILLRACE_ALLOW_FAULT_INJECTION"
WRITE_DELAY_MS = 30_000  # longer than the test runs before the kill
RECORDS = 20
POLL_FOR_S = 4.0
LIST_OFFSETS_TIMEOUT_S = 10.0


def consume_and_commit(bootstrap, topic, group):
    """Reads for POLL_FOR_S after the assignment, commits the position after the last record
    read; returns the values read."""
    consumer = group_consumer(bootstrap, group)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        values = []
        next_offset = None
        deadline = time.monotonic() + POLL_FOR_S
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=100, timeout=0.2):
                if msg.error() is None:
                    values.append(msg.value())
                    next_offset = msg.offset() + 1
        if next_offset is not None:
            consumer.commit(offsets=[TopicPartition(topic, 0, next_offset)], asynchronous=False)
        return values
    finally:
        consumer.close()


def test_committed_offset_never_exceeds_the_log_end_after_kill_and_recovery(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    topic = unique_topic("reuse")
    group = unique_topic("reuse-g")
    plan = f"slow-write:ms={WRITE_DELAY_MS}:file={topic}-0/00000000000000000000.log"
    b = broker(**{"storage.fault.plan": plan, "group.initial.rebalance.delay.ms": 0})
    create_topic(b.bootstrap, topic, 1)
    producer = new_producer(b.bootstrap, acks="0", **{"enable.idempotence": False})
    produce_all(producer, topic, [(None, f"lost-{i}".encode()) for i in range(RECORDS)], partition=0)

    read_before_crash = consume_and_commit(b.bootstrap, topic, group)
    b.kill()
    monkeypatch.delenv(ALLOW_ENV)
    restarted = broker(data_dir=b.data_dir, **{"group.initial.rebalance.delay.ms": 0})

    log_end = latest_offset(restarted.bootstrap, topic)
    checker = group_consumer(restarted.bootstrap, group)
    try:
        [committed] = checker.committed([TopicPartition(topic, 0)], timeout=LIST_OFFSETS_TIMEOUT_S)
    finally:
        checker.close()
    assert committed.offset <= log_end, (
        f"the group committed offset {committed.offset} after reading {len(read_before_crash)} records, "
        f"but the recovered log ends at {log_end}: offsets {log_end}..{committed.offset - 1} will be reused"
    )
    assert read_before_crash == [], "records were read before they were durable"

    # Records that are durable are read as usual, from offset 0.
    producer = new_producer(restarted.bootstrap, acks="all")
    log = produce_all(producer, topic, [(None, f"kept-{i}".encode()) for i in range(3)], partition=0)
    assert [offset for _, offset, _, _ in log.delivered] == [log_end, log_end + 1, log_end + 2]
    assert consume_and_commit(restarted.bootstrap, topic, group)[-3:] == [b"kept-0", b"kept-1", b"kept-2"]
