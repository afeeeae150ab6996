"""Catch-up reads from disk (issue 14): with no recent batches kept in memory, every fetch is
served from segment files by the send helpers' buffered reads. A consumer reading from the start
of a log of many segments gets every record exactly (offsets contiguous, each value the one
produced at that offset), with fetches larger than a helper's read buffer (several chunks per
region), of a few batches (each starting where the offset index says) and tiny ones (regions at
unaligned positions), after retention has deleted the oldest
segments, and again after a restart."""

import hashlib
import time

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from clients import consume_all, create_topic, new_consumer, new_producer, produce_all, unique_topic

RECORDS = 12_000
VALUE_BYTES = 1000
SEGMENT_BYTES = 3 << 20
# Larger than a send helper's 1 MiB buffer (server::send::SEND_READ_CHUNK_BYTES): one region
# goes out in several chunks.
LARGE_FETCH_BYTES = 5 << 20
# A few batches: each answer is cut inside the data, at a batch start the offset index knows
# (the next fetch then starts there without a header read: storage/log_read.rs).
MEDIUM_FETCH_BYTES = 64 << 10
# Much smaller than a batch: each fetch is one batch (KIP-74), cut anywhere in the file.
SMALL_FETCH_BYTES = 3000
# Keeps about two segments: retention deletes the first ones.
RETENTION_BYTES = 2 * SEGMENT_BYTES
RETENTION_CHECK_INTERVAL_MS = 200
RETENTION_WAIT_S = 30


def value_of(index):
    digest = hashlib.sha256(str(index).encode()).digest()
    return (digest * (VALUE_BYTES // len(digest) + 1))[:VALUE_BYTES]


def watermarks(bootstrap, topic):
    consumer = new_consumer(bootstrap)
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return low, high
    finally:
        consumer.close()


def assert_every_record(received, start, end):
    records = received[0]
    offsets = [offset for offset, _, _ in records]
    assert offsets == list(range(start, end)), (
        f"offsets {offsets[:3]}..{offsets[-3:]} ({len(offsets)}), want {start}..{end - 1}"
    )
    for offset, key, value in records:
        assert key == str(offset).encode(), f"offset {offset} carries key {key!r}"
        assert value == value_of(offset), f"offset {offset}: value differs from what was produced"


def read_every_way(bootstrap, topic, start, end):
    for fetch_bytes in (LARGE_FETCH_BYTES, MEDIUM_FETCH_BYTES, SMALL_FETCH_BYTES):
        received = consume_all(
            bootstrap,
            topic,
            1,
            **{"fetch.message.max.bytes": fetch_bytes, "fetch.max.bytes": max(fetch_bytes, 1 << 20),
               "auto.offset.reset": "earliest"},
        )
        assert_every_record(received, start, end)


def test_catch_up_reads_from_disk_get_every_record_across_rolls_retention_and_restart(broker):
    b = broker(**{
        "num.shards": 1,
        "log.recent.bytes.per.partition": 0,
        "log.recent.bytes.per.partition.min": 0,
        "log.retention.check.interval.ms": RETENTION_CHECK_INTERVAL_MS,
    })
    topic = unique_topic("catchup")
    create_topic(b.bootstrap, topic, 1, config={"segment.bytes": str(SEGMENT_BYTES)})
    records = [(str(i).encode(), value_of(i)) for i in range(RECORDS)]
    log = produce_all(new_producer(b.bootstrap, acks="all", **{"linger.ms": 5}), topic, records,
                      partition=0)
    assert not log.errors and len(log.delivered) == RECORDS
    assert sorted(o for _, o, _, _ in log.delivered) == list(range(RECORDS))
    segments = sorted((b.data_dir / f"{topic}-0").glob("*.log"))
    assert len(segments) >= 4, f"want several segments rolled, have {[s.name for s in segments]}"

    read_every_way(b.bootstrap, topic, 0, RECORDS)

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    retention = ConfigEntry("retention.bytes", str(RETENTION_BYTES),
                            incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[retention])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=10)
    deadline = time.monotonic() + RETENTION_WAIT_S
    while (start := watermarks(b.bootstrap, topic)[0]) == 0:
        assert time.monotonic() < deadline, "retention deleted no segment"
        time.sleep(0.2)
    assert start < RECORDS
    read_every_way(b.bootstrap, topic, start, RECORDS)

    assert b.stop() == 0, b.stderr_tail()
    b.start()
    start_after, end_after = watermarks(b.bootstrap, topic)
    assert (start_after, end_after) == (start, RECORDS)
    read_every_way(b.bootstrap, topic, start, RECORDS)
