"""A consumer group join with librdkafka's default timeouts completes well under 5 s when
group.initial.rebalance.delay.ms is 0: the broker must not hold the first JoinGroup."""

import time

from confluent_kafka import Consumer

from clients import create_topic, quiet_config, unique_topic

JOIN_LIMIT_S = 5.0
PARTITIONS = 3


def test_first_join_is_answered_quickly(broker):
    bootstrap, _, _ = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("join-fast")
    create_topic(bootstrap, topic, PARTITIONS)
    config = quiet_config(bootstrap)
    config.update({"group.id": unique_topic("g"), "auto.offset.reset": "earliest"})
    consumer = Consumer(config)
    try:
        started = time.monotonic()
        consumer.subscribe([topic])
        while not consumer.assignment():
            assert time.monotonic() - started < JOIN_LIMIT_S, "no assignment within 5 s"
            consumer.poll(0.05)
        elapsed = time.monotonic() - started
        assert sorted(tp.partition for tp in consumer.assignment()) == list(range(PARTITIONS))
        assert elapsed < JOIN_LIMIT_S / 2, f"join took {elapsed:.2f} s"
    finally:
        consumer.close()
