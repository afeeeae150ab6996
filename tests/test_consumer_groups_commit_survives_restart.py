"""Resume: a consumer commits, the broker restarts on the same data dir, and a new consumer in
the group resumes exactly at the committed offsets (read back through OffsetFetch too)."""

import time

from confluent_kafka import Consumer, TopicPartition

from clients import create_topic, new_producer, produce_all, quiet_config, unique_topic

PARTITIONS = 3
MESSAGES = 3000
COMMIT_AT = {0: 100, 1: 0, 2: 777}
DEADLINE_S = 60.0


def group_consumer(bootstrap, group):
    config = quiet_config(bootstrap)
    config.update({"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    return Consumer(config)


def test_committed_offsets_survive_restart_and_new_member_resumes(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0, "num.shards": 2})
    topic = unique_topic("resume")
    group = unique_topic("resume-g")
    create_topic(b.bootstrap, topic, PARTITIONS)
    producer = new_producer(b.bootstrap)
    for partition in range(PARTITIONS):
        produce_all(producer, topic, ((None, b"x") for _ in range(MESSAGES // PARTITIONS)), partition=partition)

    first = group_consumer(b.bootstrap, group)
    first.subscribe([topic])
    deadline = time.monotonic() + DEADLINE_S
    while not first.assignment():
        assert time.monotonic() < deadline, "no assignment"
        first.poll(0.05)
    offsets = [TopicPartition(topic, p, o) for p, o in COMMIT_AT.items()]
    first.commit(offsets=offsets, asynchronous=False)
    first.close()

    b.restart()

    second = group_consumer(b.bootstrap, group)
    try:
        committed = second.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        assert {tp.partition: tp.offset for tp in committed} == COMMIT_AT
        second.subscribe([topic])
        first_offset = {}
        deadline = time.monotonic() + DEADLINE_S
        while len(first_offset) < PARTITIONS:
            assert time.monotonic() < deadline, f"first offsets so far {first_offset}"
            for msg in second.consume(num_messages=1000, timeout=0.1):
                if msg.error() is None:
                    first_offset.setdefault(msg.partition(), msg.offset())
        assert first_offset == COMMIT_AT
    finally:
        second.close()
