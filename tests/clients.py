"""Client-side helpers built on confluent-kafka (librdkafka), shared by the tests.

Every wait has a deadline; nothing here sleeps to synchronise.
"""

import threading
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ADMIN_TIMEOUT_S = 30.0
CONSUME_TIMEOUT_S = 60.0
FLUSH_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.05


def unique_topic(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def quiet_config(bootstrap):
    return {"bootstrap.servers": bootstrap, "broker.address.family": "v4"}


def create_topic(bootstrap, topic, partitions, config=None):
    """CreateTopics through the admin client, then wait until Metadata shows every partition."""
    admin = AdminClient(quiet_config(bootstrap))
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=ADMIN_TIMEOUT_S,
        request_timeout=ADMIN_TIMEOUT_S,
    )
    futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    wait_for_partitions(admin, topic, partitions)


def wait_for_partitions(admin, topic, partitions, timeout_s=ADMIN_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        metadata = admin.list_topics(topic=topic, timeout=5)
        found = metadata.topics.get(topic)
        if found is not None and found.error is None:
            seen = sorted(found.partitions)
            if seen == list(range(partitions)):
                return metadata
        time.sleep(POLL_INTERVAL_S)
    raise AssertionError(f"topic {topic}: partitions {seen}, expected 0..{partitions - 1}")


class DeliveryLog:
    """Collects delivery reports: (partition, offset, key, value) for successes, errors apart."""

    def __init__(self):
        self.delivered = []
        self.errors = []

    def __call__(self, err, msg):
        if err is not None:
            self.errors.append((err, msg.key(), msg.value()))
        else:
            self.delivered.append((msg.partition(), msg.offset(), msg.key(), msg.value()))


def produce_all(producer, topic, messages, partition=None, timestamp_ms=None):
    """Produce (key, value) pairs with delivery reports and flush; returns the DeliveryLog."""
    log = DeliveryLog()
    for key, value in messages:
        kwargs = {"key": key, "value": value, "on_delivery": log}
        if partition is not None:
            kwargs["partition"] = partition
        if timestamp_ms is not None:
            kwargs["timestamp"] = timestamp_ms
        produce_with_backpressure(producer, topic, kwargs)
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages still queued after {FLUSH_TIMEOUT_S}s flush"
    return log


def produce_with_backpressure(producer, topic, kwargs, timeout_s=FLUSH_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            producer.produce(topic, **kwargs)
            producer.poll(0)
            return
        except BufferError:
            if time.monotonic() > deadline:
                raise
            producer.poll(0.05)


def new_consumer(bootstrap, **extra):
    """A consumer for assign() only: librdkafka insists on a group.id, but nothing is committed."""
    config = quiet_config(bootstrap)
    config.update(
        {
            "group.id": unique_topic("unused-group"),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
        }
    )
    config.update(extra)
    return Consumer(config)


def group_consumer(bootstrap, group, **extra):
    """A member of consumer group `group` that commits only when told to."""
    config = quiet_config(bootstrap)
    config.update({"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    config.update(extra)
    return Consumer(config)


def latest_offset(bootstrap, topic, partition=0):
    """ListOffsets latest (the high watermark) of one partition."""
    consumer = new_consumer(bootstrap)
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=ADMIN_TIMEOUT_S)
        return high
    finally:
        consumer.close()


def consume_all(bootstrap, topic, partitions, timeout_s=CONSUME_TIMEOUT_S, consumer=None, **extra):
    """Everything in partitions 0..partitions-1 from the earliest offset, read until every
    partition reports end-of-partition. Returns {partition: [(offset, key, value), ...]}."""
    own = consumer is None
    consumer = consumer or new_consumer(bootstrap, **extra)
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        return read_to_end(consumer, topic, partitions, timeout_s)
    finally:
        if own:
            consumer.close()


def read_to_end(consumer, topic, partitions, timeout_s):
    received = {p: [] for p in range(partitions)}
    at_end = set()
    deadline = time.monotonic() + timeout_s
    while len(at_end) < partitions:
        if time.monotonic() > deadline:
            counts = {p: len(v) for p, v in received.items()}
            raise AssertionError(f"{topic}: only partitions {sorted(at_end)} reached the end; counts {counts}")
        for msg in consumer.consume(num_messages=10000, timeout=0.5):
            err = msg.error()
            if err is None:
                received[msg.partition()].append((msg.offset(), msg.key(), msg.value()))
                at_end.discard(msg.partition())
            elif err.code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
            elif msg.topic() == topic or err.fatal():
                raise AssertionError(f"consumer error on {msg.topic()}[{msg.partition()}]: {err}")
    return received


def assert_contiguous_from_zero(received):
    """Per partition, consumed offsets are exactly 0, 1, 2, ... with no gap or repeat."""
    for partition, records in received.items():
        offsets = [offset for offset, _, _ in records]
        assert offsets == list(range(len(offsets))), f"partition {partition}: offsets not contiguous from 0"


def new_producer(bootstrap, **extra):
    config = quiet_config(bootstrap)
    config.update(extra)
    return Producer(config)


def assert_round_trip(bootstrap, topic, partitions, count):
    """Creates `topic`, produces `count` keyed records with acks=all and reads every one back."""
    create_topic(bootstrap, topic, partitions)
    messages = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(count)]
    log = produce_all(new_producer(bootstrap, acks="all"), topic, messages)
    assert not log.errors, log.errors[:3]
    received = consume_all(bootstrap, topic, partitions)
    got = sorted((key, value) for records in received.values() for _, key, value in records)
    assert got == sorted(messages)


class AcksAllLoad(threading.Thread):
    """Produces acks=all records as fast as the queue allows, recording every acknowledgement
    as (partition, offset, value) and counting failed deliveries. `stop()` by setting
    `stopping`; after the broker is gone the thread purges what is queued or in flight."""

    def __init__(self, bootstrap, topic, **config):
        super().__init__(daemon=True)
        self.topic = topic
        settings = {"linger.ms": 2, "message.timeout.ms": 20000, "queue.buffering.max.messages": 20000}
        settings.update(config)
        self.producer = new_producer(bootstrap, acks="all", **settings)
        self.acked = []  # appended only by this thread
        self.failed = 0
        self.stopping = threading.Event()
        self.sent = 0

    def on_delivery(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            self.failed += 1

    def run(self):
        while not self.stopping.is_set():
            value = f"load-{self.sent}".encode()
            try:
                self.producer.produce(self.topic, key=value, value=value, on_delivery=self.on_delivery)
                self.sent += 1
                self.producer.poll(0)
            except BufferError:  # queue full: wait for acks instead of spinning
                self.producer.poll(0.01)
        # The broker may be gone: drop what is queued or in flight (their reports say so) and drain.
        self.producer.purge(in_queue=True, in_flight=True, blocking=False)
        self.producer.flush(10)
