"""Broadcast semantics: 2 groups of 1 consumer each both receive all 60,000 messages."""

import time

from confluent_kafka import Consumer

from clients import create_topic, new_producer, produce_all, quiet_config, unique_topic

PARTITIONS = 4
MESSAGES = 60_000
DEADLINE_S = 90.0


def test_each_group_receives_every_message(broker):
    bootstrap, _, _ = broker(**{"group.initial.rebalance.delay.ms": 0, "num.shards": 2})
    topic = unique_topic("broadcast")
    create_topic(bootstrap, topic, PARTITIONS)
    producer = new_producer(bootstrap)
    produced = produce_all(producer, topic, ((str(i).encode(), b"x") for i in range(MESSAGES)))
    assert not produced.errors and len(produced.delivered) == MESSAGES

    consumers = []
    for _ in range(2):
        config = quiet_config(bootstrap)
        config.update({"group.id": unique_topic("broadcast-group"), "auto.offset.reset": "earliest"})
        consumer = Consumer(config)
        consumer.subscribe([topic])
        consumers.append(consumer)
    try:
        received = [set(), set()]
        deadline = time.monotonic() + DEADLINE_S
        while any(len(keys) < MESSAGES for keys in received):
            assert time.monotonic() < deadline, f"received {[len(k) for k in received]}"
            for consumer, keys in zip(consumers, received):
                for msg in consumer.consume(num_messages=5000, timeout=0.1):
                    if msg.error() is None:
                        keys.add(msg.key())
        assert all(len(keys) == MESSAGES for keys in received)
    finally:
        for consumer in consumers:
            consumer.close()
