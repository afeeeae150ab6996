"""kafka-python 3.x (pure Python, idempotent by default): admin create/list/delete of a topic
(its directories appear and go), produce with per-message offsets, consume with assign()
from the beginning."""

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from clients import unique_topic

PARTITIONS = 3
MESSAGE_COUNT = 3000
TIMEOUT_S = 30.0
TIMEOUT_MS = int(TIMEOUT_S * 1000)


def wait_until(condition, what, timeout_s=TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def test_kafka_python_admin_creates_lists_and_deletes_a_topic(broker):
    b = broker()
    topic = unique_topic("kp-admin")
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=TIMEOUT_MS)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)], timeout_ms=TIMEOUT_MS)
        wait_until(lambda: topic in admin.list_topics(), f"{topic} in list_topics")
        wait_until(
            lambda: {f"{topic}-{p}" for p in range(PARTITIONS)} <= {path.name for path in b.data_dir.iterdir()},
            f"{topic} partition directories in {b.data_dir}",
        )

        admin.delete_topics([topic], timeout_ms=TIMEOUT_MS)
        wait_until(lambda: topic not in admin.list_topics(), f"{topic} gone from list_topics")
        wait_until(
            lambda: not any(path.name.startswith(f"{topic}-") for path in b.data_dir.iterdir()),
            f"{topic} partition directories removed from {b.data_dir}",
        )
    finally:
        admin.close()


def test_kafka_python_produces_and_consumes(broker):
    b = broker()
    topic = unique_topic("kp")
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=TIMEOUT_MS)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)], timeout_ms=TIMEOUT_MS)
    finally:
        admin.close()

    sent = produce(b.bootstrap, topic)
    received = consume(b.bootstrap, topic)

    assert len(received) == MESSAGE_COUNT, f"consumed {len(received)} of {MESSAGE_COUNT}"
    assert received == sent, "consumed (partition, offset, key, value) differ from the produce results"
    for partition in range(PARTITIONS):
        offsets = sorted(o for (p, o) in received if p == partition)
        assert offsets == list(range(len(offsets))), f"partition {partition}: offsets not contiguous"


def produce(bootstrap, topic):
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, request_timeout_ms=TIMEOUT_MS)
    try:
        assert producer.config["enable_idempotence"], "kafka-python 3.x should default to idempotence"
        futures = []
        for i in range(MESSAGE_COUNT):
            key, value = f"key-{i}".encode(), f"value-{i}".encode()
            futures.append((key, value, producer.send(topic, key=key, value=value, partition=i % PARTITIONS)))
        producer.flush(timeout=TIMEOUT_S)
        sent = {}
        for key, value, future in futures:
            metadata = future.get(timeout=TIMEOUT_S)
            sent[(metadata.partition, metadata.offset)] = (key, value)
        return sent
    finally:
        producer.close(timeout=TIMEOUT_S)


def consume(bootstrap, topic):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, consumer_timeout_ms=TIMEOUT_MS
    )
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        consumer.seek_to_beginning()
        received = {}
        deadline = time.monotonic() + TIMEOUT_S
        while len(received) < MESSAGE_COUNT and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    position = (record.partition, record.offset)
                    assert position not in received, f"record {position} delivered twice"
                    received[position] = (record.key, record.value)
        # Anything past the expected count would be a duplicate or a stray append.
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                received[(record.partition, record.offset)] = (record.key, record.value)
        return received
    finally:
        consumer.close()
