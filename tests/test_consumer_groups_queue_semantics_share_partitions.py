"""Queue semantics: 3 confluent-kafka consumers in one group on a 6-partition topic each get
2 partitions, and 60,000 messages are consumed exactly once in total."""

import time

from confluent_kafka import Consumer, KafkaError

from clients import create_topic, new_producer, produce_all, quiet_config, unique_topic

PARTITIONS = 6
CONSUMERS = 3
MESSAGES = 60_000
DEADLINE_S = 90.0


def group_consumer(bootstrap, group):
    config = quiet_config(bootstrap)
    config.update({"group.id": group, "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    return Consumer(config)


def wait_for_balanced_assignment(consumers, per_consumer, deadline):
    while True:
        sizes = [len(c.assignment()) for c in consumers]
        if sizes == [per_consumer] * len(consumers):
            return
        assert time.monotonic() < deadline, f"assignment sizes {sizes}"
        for consumer in consumers:
            consumer.poll(0.05)


def test_three_consumers_split_six_partitions_and_read_each_message_once(broker):
    bootstrap, _, _ = broker(**{"group.initial.rebalance.delay.ms": 0, "num.shards": 2})
    topic = unique_topic("queue")
    group = unique_topic("queue-group")
    create_topic(bootstrap, topic, PARTITIONS)
    consumers = [group_consumer(bootstrap, group) for _ in range(CONSUMERS)]
    try:
        deadline = time.monotonic() + DEADLINE_S
        for consumer in consumers:
            consumer.subscribe([topic])
        wait_for_balanced_assignment(consumers, PARTITIONS // CONSUMERS, deadline)
        owned = [{tp.partition for tp in c.assignment()} for c in consumers]
        assert set().union(*owned) == set(range(PARTITIONS))

        producer = new_producer(bootstrap)
        produced = produce_all(producer, topic, ((str(i).encode(), b"v%d" % i) for i in range(MESSAGES)))
        assert not produced.errors and len(produced.delivered) == MESSAGES

        seen = {}
        while len(seen) < MESSAGES:
            assert time.monotonic() < deadline, f"consumed {len(seen)} of {MESSAGES}"
            for index, consumer in enumerate(consumers):
                for msg in consumer.consume(num_messages=5000, timeout=0.1):
                    if msg.error() is not None:
                        assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                        continue
                    key = msg.key()
                    assert key not in seen, f"message {key} consumed twice"
                    assert msg.partition() in owned[index], "consumed a partition it does not own"
                    seen[key] = index
        assert len(seen) == MESSAGES
        assert sorted(set(seen.values())) == list(range(CONSUMERS)), "every consumer got messages"
    finally:
        for consumer in consumers:
            consumer.close()
