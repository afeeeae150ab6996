"""compression.type on a topic, as Kafka applies it: batches whose codec differs from the
topic's are decompressed and stored recompressed (`uncompressed` stores them plain), the
`producer` default keeps each batch as sent. Consumers read the same records whatever was
stored; idempotent producers keep their sequences. Large batches are rewritten off the
shard's thread; a recompressed batch must still fit max.message.bytes (MESSAGE_TOO_LARGE), and
a compression bomb is refused (MESSAGE_TOO_LARGE) without the broker inflating it. Before,
compression.type was refused as an unknown topic config."""

import itertools
import struct

import cramjam
import pytest
from confluent_kafka import KafkaError

import kafka_wire
from clients import DeliveryLog, consume_all, create_topic, new_producer, unique_topic

CODEC_ATTRIBUTE = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
FLUSH_TIMEOUT_S = 30.0
ERROR_MESSAGE_TOO_LARGE = 10


def produce(bootstrap, topic, values, codec, **config):
    producer = new_producer(bootstrap, **{"compression.type": codec, "linger.ms": 50,
                                          "message.timeout.ms": 20000, **config})
    log = DeliveryLog()
    for value in values:
        producer.produce(topic, value=value, partition=0, on_delivery=log)
        producer.poll(0)
    assert producer.flush(FLUSH_TIMEOUT_S) == 0
    return log


def stored_codecs(bootstrap, topic):
    """The codec of every stored batch, read from a raw Fetch (CRC32C checked)."""
    with kafka_wire.connect(bootstrap) as sock:
        _, _, raw = kafka_wire.fetch_v4(sock, 1, topic, {0: 0}, partition_max_bytes=32 << 20)[0]
    headers = kafka_wire.batch_headers(raw)
    assert all(crc_ok for _, _, crc_ok in headers), "a stored batch fails its CRC32C"
    return [attributes & 0x07 for attributes, _, _ in headers]


def values(bootstrap, topic):
    return [value for _, _, value in consume_all(bootstrap, topic, 1)[0]]


@pytest.mark.parametrize("topic_codec, stored", [("zstd", "zstd"), ("uncompressed", "none"), ("lz4", "lz4")])
def test_batches_are_stored_with_the_topics_codec(broker, topic_codec, stored):
    b = broker()
    topic = unique_topic(f"codec-{topic_codec}")
    create_topic(b.bootstrap, topic, 1, config={"compression.type": topic_codec})
    sent = []
    for producer_codec in ("gzip", "snappy", "none", "zstd"):
        batch = [f"{producer_codec}-{i}-".encode() * 20 for i in range(50)]
        log = produce(b.bootstrap, topic, batch, producer_codec)
        assert not log.errors, log.errors
        sent += batch
    codecs = stored_codecs(b.bootstrap, topic)
    assert codecs and set(codecs) == {CODEC_ATTRIBUTE[stored]}, codecs
    assert values(b.bootstrap, topic) == sent


def test_producer_keeps_each_batch_as_sent(broker):
    b = broker()
    topic = unique_topic("codec-producer")
    create_topic(b.bootstrap, topic, 1, config={"compression.type": "producer"})
    for codec in ("gzip", "lz4"):
        assert not produce(b.bootstrap, topic, [codec.encode() * 100] * 20, codec).errors
    # How many batches a producer makes of 20 records depends on timing (a first record sent
    # alone once its linger ran out), so each run of equal codecs counts once.
    stored = stored_codecs(b.bootstrap, topic)
    runs = [codec for codec, _ in itertools.groupby(stored)]
    assert runs == [CODEC_ATTRIBUTE["gzip"], CODEC_ATTRIBUTE["lz4"]], stored


def test_large_batches_and_idempotent_producers_are_recompressed(broker):
    b = broker()
    topic = unique_topic("codec-large")
    create_topic(b.bootstrap, topic, 1, config={"compression.type": "zstd", "compression.zstd.level": "9"})
    # About 1 MB per batch, compressed by the producer to far more than 16 KiB: the helper
    # thread's path.
    sent = [(f"record {i} " * 60).encode() + bytes([i % 251]) * 300 for i in range(2000)]
    log = produce(b.bootstrap, topic, sent, "gzip", **{"enable.idempotence": True, "linger.ms": 500,
                                                      "batch.size": 4 << 20})
    assert not log.errors, log.errors[:3]
    offsets = [offset for _, offset, _, _ in log.delivered]
    assert sorted(offsets) == list(range(len(sent)))
    assert set(stored_codecs(b.bootstrap, topic)) == {CODEC_ATTRIBUTE["zstd"]}
    assert values(b.bootstrap, topic) == sent


def test_a_batch_too_large_once_recompressed_is_refused(broker):
    b = broker()
    topic = unique_topic("codec-too-large")
    create_topic(b.bootstrap, topic, 1, config={"compression.type": "uncompressed", "max.message.bytes": "20000"})
    # One record of 200,000 zero bytes: a few hundred bytes gzip-compressed, 200 KB plain. One
    # record, not many small ones: how a producer splits records into batches depends on timing
    # (a first record sent alone once its linger ran out is legitimately stored).
    log = produce(b.bootstrap, topic, [bytes(200_000)], "gzip")
    assert {err.code() for err, _, _ in log.errors} == {KafkaError.MSG_SIZE_TOO_LARGE}, log.errors[:2]
    assert not log.delivered
    assert not produce(b.bootstrap, topic, [b"small"], "gzip").errors, "the partition still takes batches"
    assert values(b.bootstrap, topic) == [b"small"]


def zstd_bomb_batch(inflated_bytes):
    """A one-record batch whose zstd records section inflates to `inflated_bytes` zeros."""
    compressed = bytes(cramjam.zstd.compress(bytes(inflated_bytes)))
    after_crc = (
        kafka_wire.int16(CODEC_ATTRIBUTE["zstd"]) + kafka_wire.int32(0) + kafka_wire.int64(1)
        + kafka_wire.int64(1) + kafka_wire.int64(-1) + kafka_wire.int16(-1) + kafka_wire.int32(-1)
        + kafka_wire.int32(1) + compressed
    )
    after_length = (kafka_wire.int32(0) + struct.pack(">b", kafka_wire.MAGIC_V2)
                    + struct.pack(">I", kafka_wire.crc32c(after_crc)) + after_crc)
    return kafka_wire.int64(0) + kafka_wire.int32(len(after_length)) + after_length


def test_a_compression_bomb_is_refused_not_inflated(broker):
    b = broker()
    topic = unique_topic("codec-bomb")
    create_topic(b.bootstrap, topic, 1, config={"compression.type": "lz4"})
    bomb = zstd_bomb_batch(256 << 20)
    assert len(bomb) < 100_000
    with kafka_wire.connect(b.bootstrap) as sock:
        [(error, _)] = kafka_wire.produce_v3(sock, 1, topic, {0: bomb}).values()
        assert error == ERROR_MESSAGE_TOO_LARGE
        good = kafka_wire.encode_record_batch([(None, b"after the bomb")], 1_700_000_000_000)
        assert kafka_wire.produce_v3(sock, 2, topic, {0: good}) == {0: (0, 0)}
    assert values(b.bootstrap, topic) == [b"after the bomb"]
