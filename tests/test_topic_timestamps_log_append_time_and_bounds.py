"""Topic timestamp configs, as Kafka applies them.

- message.timestamp.type=LogAppendTime: the broker stamps each batch with the append time
  (timestamp-type attribute and maxTimestamp, CRC32C updated; records keep their deltas), the
  Produce answer carries it (log_append_time_ms), and consumers read it as every record's
  timestamp, whatever the producer set. Before, they got the producer's timestamps.
- message.timestamp.before.max.ms / after.max.ms (CreateTime): a batch with a record outside
  [now - before, now + after] is refused with INVALID_TIMESTAMP (32), uncompressed or
  compressed, and nothing of it is stored. after.max.ms defaults to one hour, as in Kafka 4.x.
"""

import time

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, KafkaError

import kafka_wire
from clients import DeliveryLog, consume_all, create_topic, new_consumer, new_producer, unique_topic

HOUR_MS = 3_600_000
OLD_TIMESTAMP_MS = 1_600_000_000_000  # September 2020
FLUSH_TIMEOUT_S = 30.0
TIMESTAMP_TYPE_FLAG = 0x08


def now_ms():
    return int(time.time() * 1000)


METADATA_TIMEOUT_S = 10


def produce(bootstrap, topic, records, **config):
    """Produces (value, timestamp_ms) records to partition 0; returns the DeliveryLog and the
    delivered messages' (timestamp type, timestamp)."""
    producer = new_producer(bootstrap, **{"linger.ms": 20, "message.timeout.ms": 20000, **config})
    # The partition's leader known first: librdkafka holds records produced before it in a
    # queue of their own, and a first record whose linger ran out there (metadata slower than
    # linger.ms on a loaded machine) went out alone, splitting a batch the test means as one
    # (CI, 2026-12-07: zstd's "fresh" delivered alone at offset 1).
    producer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
    log = DeliveryLog()
    stamps = []

    def report(err, msg):
        log(err, msg)
        if err is None:
            stamps.append(msg.timestamp())

    for value, timestamp_ms in records:
        producer.produce(topic, value=value, partition=0, timestamp=timestamp_ms, on_delivery=report)
    assert producer.flush(FLUSH_TIMEOUT_S) == 0
    return log, stamps


def test_log_append_time_topic_stamps_every_batch_with_the_append_time(broker):
    b = broker()
    topic = unique_topic("log-append-time")
    create_topic(b.bootstrap, topic, 1, config={"message.timestamp.type": "LogAppendTime"})
    before = now_ms()
    records = [(f"v{i}".encode(), OLD_TIMESTAMP_MS + i) for i in range(20)]
    log, stamps = produce(b.bootstrap, topic, records)
    after = now_ms()
    assert not log.errors and len(log.delivered) == 20
    # librdkafka reads the Produce answer's log_append_time_ms into the delivery report.
    assert all(kind == TIMESTAMP_LOG_APPEND_TIME and before <= ts <= after for kind, ts in stamps), stamps

    consumer = new_consumer(b.bootstrap)
    try:
        received = consume_all(b.bootstrap, topic, 1, consumer=consumer)[0]
    finally:
        consumer.close()
    assert [value for _, _, value in received] == [value for value, _ in records]
    with kafka_wire.connect(b.bootstrap) as sock:
        _, _, raw = kafka_wire.fetch_v4(sock, 1, topic, {0: 0})[0]
    headers = kafka_wire.batch_headers(raw)
    assert headers, "no batch fetched"
    for attributes, max_timestamp, crc_ok in headers:
        assert attributes & TIMESTAMP_TYPE_FLAG, "the batch is not marked LogAppendTime"
        assert before <= max_timestamp <= after and crc_ok
    # Raw records decode (CRC checked) to what was produced.
    assert [v for _, _, v in kafka_wire.decode_record_batches(raw)] == [v for v, _ in records]

    timestamps = read_timestamps(b.bootstrap, topic)
    assert {kind for kind, _ in timestamps} == {TIMESTAMP_LOG_APPEND_TIME}
    assert all(before <= ts <= after for _, ts in timestamps), timestamps


def read_timestamps(bootstrap, topic):
    consumer = new_consumer(bootstrap)
    try:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error() is None:
                    got.append(msg.timestamp())
                elif msg.error().code() == KafkaError._PARTITION_EOF:
                    return got
        raise AssertionError(f"end of partition not reached; got {len(got)}")
    finally:
        consumer.close()


def delivery_errors(log):
    return {err.code() for err, _, _ in log.errors}


def test_create_time_bounds_refuse_out_of_range_timestamps(broker):
    b = broker()
    bounded = unique_topic("ts-bounds")
    create_topic(b.bootstrap, bounded, 1, config={"message.timestamp.before.max.ms": str(HOUR_MS)})
    now = now_ms()

    log, _ = produce(b.bootstrap, bounded, [(b"recent", now - 60_000)])
    assert not log.errors
    log, _ = produce(b.bootstrap, bounded, [(b"two-hours-old", now - 2 * HOUR_MS)])
    assert delivery_errors(log) == {KafkaError.INVALID_TIMESTAMP}, log.errors
    # One old record among fresh ones fails its whole batch, compressed or not: Kafka
    # checks every record, not the batch's first and last timestamps.
    for codec in ("none", "gzip", "zstd"):
        mixed = [(b"fresh", now), (b"old", now - 2 * HOUR_MS), (b"fresh-too", now)]
        log, _ = produce(b.bootstrap, bounded, mixed, **{"compression.type": codec, "linger.ms": 200})
        assert delivery_errors(log) == {KafkaError.INVALID_TIMESTAMP}, (codec, log.errors)
        assert not log.delivered, codec

    default = unique_topic("ts-default")
    create_topic(b.bootstrap, default, 1)
    log, _ = produce(b.bootstrap, default, [(b"ancient", OLD_TIMESTAMP_MS), (b"soon", now + 600_000)])
    assert not log.errors, "no bound on the past by default; ten minutes ahead is within an hour"
    log, _ = produce(b.bootstrap, default, [(b"future", now + 2 * HOUR_MS)])
    assert delivery_errors(log) == {KafkaError.INVALID_TIMESTAMP}, "Kafka 4.x: an hour ahead at most"

    values = [v for _, _, v in consume_all(b.bootstrap, bounded, 1)[0]]
    assert values == [b"recent"], "refused batches left nothing behind"
    stamps = read_timestamps(b.bootstrap, default)
    assert stamps == [(TIMESTAMP_CREATE_TIME, OLD_TIMESTAMP_MS), (TIMESTAMP_CREATE_TIME, now + 600_000)]


def test_log_append_time_topics_ignore_the_bounds(broker):
    b = broker()
    topic = unique_topic("lat-bounds")
    create_topic(b.bootstrap, topic, 1, config={
        "message.timestamp.type": "LogAppendTime",
        "message.timestamp.before.max.ms": "1000",
        "message.timestamp.after.max.ms": "1000",
    })
    log, stamps = produce(b.bootstrap, topic, [(b"old", OLD_TIMESTAMP_MS), (b"future", now_ms() + 10 * HOUR_MS)])
    assert not log.errors and {kind for kind, _ in stamps} == {TIMESTAMP_LOG_APPEND_TIME}
