"""Produce refuses record batches whose fields disagree with each other or with their bytes,
with Kafka's error codes and messages (Produce v8 carries `error_message`), and a refused batch
loses nothing else: the next good batch gets the next dense offset, and a Fetch from offset 0
returns exactly the good batches, densely numbered.

Every hostile batch is built by hand over a raw socket: valid framing, magic 2 and a correct
CRC32C, so that only the inconsistency under test can be the reason for the refusal.
"""

import gzip
import struct
import time

import pytest

import kafka_wire
from conftest import Broker
from kafka_wire import int16, int32, int64, kafka_bytes, kafka_string

PRODUCE_VERSION = 8
INVALID_RECORD = 87
CORRUPT_MESSAGE = 2
INVALID_REQUEST = 42
TIMESTAMP_MS = 1_700_000_000_000
FETCH_DEADLINE_S = 15.0
ZSTD_FRAME_MAGIC = bytes([0x28, 0xB5, 0x2F, 0xFD])
CODEC_GZIP = 1
CODEC_ZSTD = 4


# ---------------------------------------------------------------- hand-built batches


def records(count, tag):
    """`count` encoded records (offset deltas 0..count-1), values naming `tag`."""
    return b"".join(
        kafka_wire.encode_record(i, 0, None, f"{tag}-{i}".encode()) for i in range(count)
    )


def batch(
    body,
    count,
    last_offset_delta,
    base_offset=0,
    attributes=0,
    producer_id=-1,
    producer_epoch=-1,
    base_sequence=-1,
):
    """A v2 batch around `body` (the records, or their compressed form) with every header
    field chosen by the caller and a correct CRC32C."""
    after_crc = (
        int16(attributes)
        + int32(last_offset_delta)
        + int64(TIMESTAMP_MS)
        + int64(TIMESTAMP_MS)
        + int64(producer_id)
        + int16(producer_epoch)
        + int32(base_sequence)
        + int32(count)
        + body
    )
    after_length = int32(0) + struct.pack(">b", 2) + struct.pack(">I", kafka_wire.crc32c(after_crc)) + after_crc
    return int64(base_offset) + int32(len(after_length)) + after_length


def good(count, tag, **fields):
    return batch(records(count, tag), count, count - 1, **fields)


def record_with_length(length_varint, body):
    """One record whose length prefix is `length_varint` (raw bytes) whatever `body` holds."""
    return length_varint + body


ONE_RECORD_BODY = records(1, "x")[1:]  # a record without its one-byte length prefix

# name -> (records field, expected error code, part of the expected error message)
HOSTILE = {
    # The reviewer's two batches: charged 2^31 offsets, and 5 offsets for 1 record.
    "one-record-last-offset-delta-2^31-1": (
        batch(records(1, "h"), 1, 2**31 - 1),
        INVALID_RECORD,
        "Inconsistent batch offset range",
    ),
    "count-5-holding-1-record": (
        batch(records(1, "h"), 5, 4),
        INVALID_RECORD,
        "Incorrect declared batch size",
    ),
    "count-5-last-offset-delta-0": (
        batch(records(1, "h"), 5, 0),
        INVALID_RECORD,
        "Inconsistent batch offset range",
    ),
    "count-0": (batch(b"", 0, 0), INVALID_RECORD, "Invalid reported count"),
    "count-1-holding-2-records": (
        batch(records(2, "h"), 1, 0),
        INVALID_RECORD,
        "Incorrect declared batch size",
    ),
    "record-length-past-batch-end": (
        batch(record_with_length(kafka_wire.varint(len(ONE_RECORD_BODY) + 50), ONE_RECORD_BODY), 1, 0),
        INVALID_RECORD,
        "Invalid record size",
    ),
    "record-length-too-short": (
        batch(record_with_length(kafka_wire.varint(2), b"\x00\x00"), 1, 0),
        INVALID_RECORD,
        "Invalid record size",
    ),
    "record-length-negative": (
        batch(record_with_length(kafka_wire.varint(-7), ONE_RECORD_BODY), 1, 0),
        INVALID_RECORD,
        "Invalid record size",
    ),
    "record-length-varint-6-bytes": (
        batch(record_with_length(b"\x80\x80\x80\x80\x80\x00", ONE_RECORD_BODY), 1, 0),
        INVALID_RECORD,
        "Invalid record size",
    ),
    "base-offset-5": (good(1, "h", base_offset=5), INVALID_RECORD, "baseOffset"),
    "producer-id-with-sequence-minus-1": (
        good(1, "h", producer_id=77, producer_epoch=0, base_sequence=-1),
        INVALID_RECORD,
        "Invalid sequence number",
    ),
    "producer-id-with-epoch-minus-1": (
        good(1, "h", producer_id=77, producer_epoch=-1, base_sequence=0),
        INVALID_RECORD,
        "producer epoch",
    ),
    "producer-id-minus-2": (
        good(1, "h", producer_id=-2, producer_epoch=0, base_sequence=0),
        INVALID_RECORD,
        "producer id",
    ),
    "gzip-last-offset-delta-disagrees-with-count": (
        batch(gzip.compress(records(3, "h")), 3, 7, attributes=CODEC_GZIP),
        INVALID_RECORD,
        "Inconsistent batch offset range",
    ),
    "gzip-payload-without-gzip-magic": (
        batch(records(2, "h"), 2, 1, attributes=CODEC_GZIP),
        CORRUPT_MESSAGE,
        "gzip",
    ),
    "compression-codec-5": (
        batch(records(1, "h"), 1, 0, attributes=5),
        INVALID_RECORD,
        "compression",
    ),
    "zstd-claiming-2^31-1-records-in-12-bytes": (
        batch(ZSTD_FRAME_MAGIC + bytes(8), 2**31 - 1, 2**31 - 2, attributes=CODEC_ZSTD),
        INVALID_RECORD,
        "records",
    ),
    "two-batches-in-one-partition": (
        good(1, "h1") + good(1, "h2"),
        INVALID_RECORD,
        "exactly one record batch",
    ),
}


# ---------------------------------------------------------------- Produce v8 on the wire


def produce_v8(sock, correlation_id, entries, acks=-1, timeout_ms=10000):
    """One Produce v8 request of `entries` [(topic, partition, records)], in that order (a
    topic-partition may repeat). Returns [(topic, partition, error_code, base_offset,
    error_message)] in the answer's order."""
    by_topic = []
    for topic, partition, data in entries:
        if not by_topic or by_topic[-1][0] != topic:
            by_topic.append((topic, []))
        by_topic[-1][1].append(int32(partition) + kafka_bytes(data))
    body = kafka_string(None) + int16(acks) + int32(timeout_ms) + int32(len(by_topic))
    for topic, partitions in by_topic:
        body += kafka_string(topic) + int32(len(partitions)) + b"".join(partitions)
    reader = kafka_wire.call(sock, kafka_wire.API_PRODUCE, PRODUCE_VERSION, correlation_id, body)
    answers = []
    for _ in range(reader.int32()):
        topic = reader.string()
        for _ in range(reader.int32()):
            partition = reader.int32()
            error_code = reader.int16()
            base_offset = reader.int64()
            reader.int64()  # log append time
            reader.int64()  # log start offset
            for _ in range(reader.int32()):  # record errors
                reader.int32()
                reader.string()
            answers.append((topic, partition, error_code, base_offset, reader.string()))
    reader.int32()  # throttle time
    return answers


def produce_one(sock, correlation_id, topic, data):
    [(_, _, error_code, base_offset, message)] = produce_v8(sock, correlation_id, [(topic, 0, data)])
    return error_code, base_offset, message


def fetched_batches(sock, topic, offsets_expected):
    """[(base_offset, last_offset)] of every batch in partition 0, fetched from offset 0 until
    `offsets_expected` offsets are in (or the deadline passes)."""
    deadline = time.monotonic() + FETCH_DEADLINE_S
    got = []
    correlation_id = 5000
    while time.monotonic() < deadline:
        correlation_id += 1
        next_offset = got[-1][1] + 1 if got else 0
        results = kafka_wire.fetch_v4(sock, correlation_id, topic, {0: next_offset})
        error_code, _, data = results[0]
        assert error_code == 0, f"fetch error {error_code}"
        got += [(base, last) for _, base, last, _ in kafka_wire.walk_log_segment(data)]
        if got and got[-1][1] + 1 >= offsets_expected:
            break
    return got


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("batches") / "data"
    data_dir.mkdir()
    handle = Broker(data_dir, data_dir.parent / "stderr.log", {})
    handle.start()
    yield handle
    handle.kill()


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_inconsistent_batch_is_refused_and_the_next_good_batch_gets_the_next_offset(shared_broker, case):
    data, expected_code, expected_message = HOSTILE[case]
    topic = f"refused-{case.replace('^', '')}"
    with kafka_wire.connect(shared_broker.bootstrap) as sock:
        kafka_wire.ensure_topic(sock, topic)
        assert produce_one(sock, 1, topic, good(2, "before"))[:2] == (0, 0)
        refused = produce_one(sock, 2, topic, data)
        after = produce_one(sock, 3, topic, good(3, "after"))
        outcome = f"{case}: answered {refused}, then the next good batch {after}"
        assert refused[:2] == (expected_code, -1), f"{outcome}; expected error {expected_code}"
        assert refused[2] and expected_message.lower() in refused[2].lower(), f"{outcome}; message?"
        assert after[:2] == (0, 2), f"{outcome}; expected the next good batch at offset 2"
        assert fetched_batches(sock, topic, 5) == [(0, 1), (2, 4)], f"{case}: the log holds other batches"


def test_a_partition_named_twice_in_one_request_is_refused_whole(shared_broker):
    """Kafka keeps the last entry of a repeated partition and drops the others without a word
    (KafkaApis.handleProduceRequest collects them in a map); ListOffsets answers a repeated
    partition INVALID_REQUEST. Here every entry of the repeated partition is refused
    INVALID_REQUEST and none is written; the other partitions of the request are written."""
    topic, other = "refused-duplicate", "refused-duplicate-other"
    with kafka_wire.connect(shared_broker.bootstrap) as sock:
        kafka_wire.ensure_topic(sock, topic)
        kafka_wire.ensure_topic(sock, other)
        assert produce_one(sock, 1, topic, good(1, "first"))[:2] == (0, 0)
        answers = produce_v8(
            sock,
            2,
            [(topic, 0, good(2, "dup-a")), (other, 0, good(1, "other")), (topic, 0, good(4, "dup-b"))],
        )
        codes = [(t, error_code, base_offset) for t, _, error_code, base_offset, _ in answers]
        assert codes == [(topic, INVALID_REQUEST, -1), (other, 0, 0), (topic, INVALID_REQUEST, -1)], answers
        assert all("duplicate" in (answer[4] or "").lower() for answer in answers if answer[0] == topic), answers
        assert produce_one(sock, 3, topic, good(1, "after"))[:2] == (0, 1)
        assert fetched_batches(sock, topic, 2) == [(0, 0), (1, 1)]


@pytest.mark.parametrize(
    "fields",
    [
        # librdkafka and the Java client: all -1 without idempotence.
        dict(producer_id=-1, producer_epoch=-1, base_sequence=-1),
        # Sarama and kafkajs leave epoch and sequence at 0 without idempotence; Kafka ignores
        # them when there is no producer id.
        dict(producer_id=-1, producer_epoch=0, base_sequence=0),
        # An idempotent batch whose sequence wraps past 2^31-1 (Kafka's incrementSequence).
        dict(producer_id=4242, producer_epoch=0, base_sequence=2**31 - 2),
    ],
    ids=["no-producer-id", "no-producer-id-epoch-0-sequence-0", "idempotent-sequence-wraps"],
)
def test_consistent_producer_fields_are_accepted(shared_broker, fields):
    topic = f"accepted-{fields['producer_id']}-{fields['producer_epoch']}-{fields['base_sequence']}"
    with kafka_wire.connect(shared_broker.bootstrap) as sock:
        kafka_wire.ensure_topic(sock, topic)
        assert produce_one(sock, 1, topic, good(3, "ok", **fields)) == (0, 0, None)
        assert produce_one(sock, 2, topic, batch(gzip.compress(records(2, "gz")), 2, 1, attributes=CODEC_GZIP)) == (
            0,
            3,
            None,
        )
        assert fetched_batches(sock, topic, 5) == [(0, 2), (3, 4)]
