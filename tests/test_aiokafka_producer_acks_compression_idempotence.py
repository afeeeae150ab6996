"""aiokafka's AIOKafkaProducer against millrace: acks=all, 1 and 0 under every compression
codec (none, gzip, snappy, lz4, zstd), send_and_wait and batched send, keyed messages, and
enable_idempotence=True; a transactional producer is refused at once. Every message is read back with AIOKafkaConsumer and checked by key,
value, partition and per-partition order; the segment files show the client's codec and, for
the idempotent producer, its producer id and sequences, stored untouched."""

import asyncio
import struct
import time

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TransactionalIdAuthorizationFailed

import kafka_wire
from aiokafka_clients import (
    REQUEST_TIMEOUT_MS,
    assert_offsets_contiguous,
    create_topic,
    read_topic,
    run,
)
from clients import unique_topic

PARTITIONS = 3
KEY_COUNT = 12
MESSAGES_PER_ACKS_MODE = 300
# Of each producer's messages, this many are sent one by one with send_and_wait.
SEND_AND_WAIT_COUNT = 10
LINGER_MS = 5
# Values long enough and repetitive enough that every codec really compresses them.
VALUE_PADDING = b" the quick brown fox jumps over the lazy dog" * 4
ACKS_MODES = ("all", 1, 0)
CODEC_BITS = {None: 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
# Record batch v2 header field positions (Kafka's DefaultRecordBatch).
ATTRIBUTES_POS = 21
PRODUCER_ID_POS = 43
BASE_SEQUENCE_POS = 53
COMPRESSION_MASK = 0x07
# A refused transactional producer must fail well within one request timeout.
REFUSAL_BOUND_S = 5.0


def message(tag, index):
    key = f"key-{index % KEY_COUNT}".encode()
    value = f"{tag}-{index:05d}".encode() + VALUE_PADDING
    return key, value


async def produce(bootstrap, topic, tag, count, **config):
    """Sends `count` keyed messages: the first SEND_AND_WAIT_COUNT one at a time, the rest
    as a batch of futures. Returns [(key, value, RecordMetadata or None)] in send order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=LINGER_MS, request_timeout_ms=REQUEST_TIMEOUT_MS, **config
    )
    await producer.start()
    try:
        sent = []
        for index in range(SEND_AND_WAIT_COUNT):
            key, value = message(tag, index)
            sent.append((key, value, await producer.send_and_wait(topic, value, key=key)))
        pending = []
        for index in range(SEND_AND_WAIT_COUNT, count):
            key, value = message(tag, index)
            pending.append((key, value, await producer.send(topic, value, key=key)))
        results = await asyncio.gather(*(future for _, _, future in pending))
        sent += [(key, value, result) for (key, value, _), result in zip(pending, results)]
        return sent
    finally:
        await producer.stop()


def check_read_back(received, sent):
    """Every sent message was read once; messages of one key share one partition and keep
    their send order; acknowledged ones sit at the partition and offset the broker answered."""
    by_position = {(p, r.offset): r for p, records in received.items() for r in records}
    assert len(by_position) == len(sent), f"read {len(by_position)} records, sent {len(sent)}"
    assert_offsets_contiguous(received)
    for key, value, metadata in sent:
        if metadata is None:
            continue
        record = by_position.get((metadata.partition, metadata.offset))
        assert record is not None, f"acknowledged {metadata} not read back"
        assert (record.key, record.value) == (key, value), f"at {metadata}: read {record.key}, {record.value[:20]}"
    read_by_key = {}
    partitions_by_key = {}
    for partition, records in received.items():
        for record in records:
            read_by_key.setdefault(record.key, []).append(record.value)
            partitions_by_key.setdefault(record.key, set()).add(partition)
    sent_by_key = {}
    for key, value, _ in sent:
        sent_by_key.setdefault(key, []).append(value)
    for key, values in sent_by_key.items():
        assert partitions_by_key.get(key, set()) and len(partitions_by_key[key]) == 1, (
            f"{key}: spread over partitions {partitions_by_key.get(key)}"
        )
        assert read_by_key[key] == values, f"{key}: values read back differ from send order"


def stored_batches(data_dir, topic):
    """(attributes, producer_id, base_sequence) of every batch in each partition's first segment."""
    batches = []
    for partition in range(PARTITIONS):
        segment = data_dir / f"{topic}-{partition}" / "00000000000000000000.log"
        data = segment.read_bytes()
        for pos, _, _, _ in kafka_wire.walk_log_segment(data):
            (attributes,) = struct.unpack_from(">h", data, pos + ATTRIBUTES_POS)
            (producer_id,) = struct.unpack_from(">q", data, pos + PRODUCER_ID_POS)
            (base_sequence,) = struct.unpack_from(">i", data, pos + BASE_SEQUENCE_POS)
            batches.append((partition, attributes, producer_id, base_sequence))
    return batches


@pytest.mark.parametrize("compression", [None, "gzip", "snappy", "lz4", "zstd"])
def test_aiokafka_producer_every_acks_mode_with_compression(broker, compression):
    b = broker()
    topic = unique_topic(f"aio-{compression or 'none'}")

    async def body():
        await create_topic(b.bootstrap, topic, PARTITIONS)
        sent = []
        for acks in ACKS_MODES:
            sent += await produce(
                b.bootstrap, topic, f"acks{acks}", MESSAGES_PER_ACKS_MODE, acks=acks, compression_type=compression
            )
        for key, value, metadata in sent:
            assert metadata is not None or value.startswith(b"acks0-"), f"{key} acked without metadata"
        received = await read_topic(b.bootstrap, topic, PARTITIONS, len(sent))
        check_read_back(received, sent)

    run(body())
    codecs = {attributes & COMPRESSION_MASK for _, attributes, _, _ in stored_batches(b.data_dir, topic)}
    assert codecs == {CODEC_BITS[compression]}, f"stored batch codecs {codecs}, expected {compression}"


def test_aiokafka_idempotent_producer_batches_keep_sequences(broker):
    b = broker()
    topic = unique_topic("aio-idem")
    count = 2 * MESSAGES_PER_ACKS_MODE

    async def body():
        await create_topic(b.bootstrap, topic, PARTITIONS)
        sent = await produce(b.bootstrap, topic, "idem", count, enable_idempotence=True, compression_type="lz4")
        assert all(metadata is not None for _, _, metadata in sent)
        received = await read_topic(b.bootstrap, topic, PARTITIONS, len(sent))
        check_read_back(received, sent)

    run(body())
    batches = stored_batches(b.data_dir, topic)
    producer_ids = {producer_id for _, _, producer_id, _ in batches}
    assert len(producer_ids) == 1 and min(producer_ids) >= 0, f"producer ids in batches: {producer_ids}"
    for partition in range(PARTITIONS):
        sequences = [seq for p, _, _, seq in batches if p == partition]
        assert sequences and sequences[0] == 0, f"partition {partition}: first sequence {sequences[:1]}"
        assert sequences == sorted(set(sequences)), f"partition {partition}: sequences {sequences}"


def test_aiokafka_transactional_producer_is_refused_at_once(broker):
    """Transactions are not served yet: a transactional producer must stop with a clear,
    fatal error (as from a Kafka that refuses the transactional id), not retry forever."""
    b = broker()
    started_s = time.monotonic()

    async def body():
        producer = AIOKafkaProducer(
            bootstrap_servers=b.bootstrap, transactional_id="aio-txn", request_timeout_ms=REQUEST_TIMEOUT_MS
        )
        try:
            with pytest.raises(TransactionalIdAuthorizationFailed):
                await producer.start()
                async with producer.transaction():
                    await producer.send_and_wait(unique_topic("aio-txn"), b"never")
        finally:
            await producer.stop()

    run(body())
    assert time.monotonic() - started_s < REFUSAL_BOUND_S
