"""Clean restart: produce, SIGTERM, start again on the same data dir; every record is still
there, the segment files are Kafka's layout trimmed to their logical size, and new appends
continue at the old end offsets."""

from collections import defaultdict

import kafka_wire
from clients import (
    assert_contiguous_from_zero,
    consume_all,
    create_topic,
    new_producer,
    produce_all,
    unique_topic,
)

PARTITIONS = 2
FIRST_COUNT = 5000
SECOND_COUNT = 1000
FIRST_SEGMENT = "00000000000000000000"


def batch(tag, count):
    return [(f"{tag}-k{i}".encode(), f"{tag}-v{i}".encode()) for i in range(count)]


def end_offsets(delivered):
    ends = defaultdict(lambda: 0)
    for partition, offset, _, _ in delivered:
        ends[partition] = max(ends[partition], offset + 1)
    return ends


def test_clean_restart_keeps_records_and_continues_offsets(broker):
    b = broker()
    topic = unique_topic("restart")
    create_topic(b.bootstrap, topic, PARTITIONS)
    first = produce_all(new_producer(b.bootstrap, acks="all"), topic, batch("first", FIRST_COUNT))
    assert not first.errors and len(first.delivered) == FIRST_COUNT
    ends_before = end_offsets(first.delivered)
    assert set(ends_before) == set(range(PARTITIONS)), "keys should spread over every partition"

    assert b.stop() == 0, f"clean shutdown should exit 0\n{b.stderr_tail()}"
    assert_segments_trimmed(b.data_dir, topic, ends_before)

    b.start()
    after_restart = consume_all(b.bootstrap, topic, PARTITIONS)
    assert_contiguous_from_zero(after_restart)
    assert positions(after_restart) == positions_from_reports(first.delivered)

    second = produce_all(new_producer(b.bootstrap, acks="all"), topic, batch("second", SECOND_COUNT))
    assert not second.errors and len(second.delivered) == SECOND_COUNT
    for partition in range(PARTITIONS):
        new_offsets = sorted(o for p, o, _, _ in second.delivered if p == partition)
        if new_offsets:
            assert new_offsets[0] == ends_before[partition], (
                f"partition {partition}: first new offset {new_offsets[0]}, log ended at {ends_before[partition]}"
            )
            assert new_offsets == list(range(new_offsets[0], new_offsets[0] + len(new_offsets)))

    everything = consume_all(b.bootstrap, topic, PARTITIONS)
    assert_contiguous_from_zero(everything)
    assert positions(everything) == positions_from_reports(first.delivered + second.delivered)

    assert b.stop() == 0
    b.start()
    assert positions(consume_all(b.bootstrap, topic, PARTITIONS)) == positions(everything)


def positions(received):
    return {(p, o): (k, v) for p, records in received.items() for o, k, v in records}


def positions_from_reports(delivered):
    return {(p, o): (k, v) for p, o, k, v in delivered}


def assert_segments_trimmed(data_dir, topic, ends):
    """After a clean shutdown each partition's active segment holds whole batches up to the
    last offset and nothing after (no preallocated zeros)."""
    for partition, end in ends.items():
        log_path = data_dir / f"{topic}-{partition}" / f"{FIRST_SEGMENT}.log"
        assert log_path.exists(), f"missing {log_path}; dir has {sorted(p.name for p in log_path.parent.iterdir())}"
        data = log_path.read_bytes()
        batches = kafka_wire.walk_log_segment(data)
        assert batches, f"{log_path}: no record batch found"
        last_position, _, last_offset, last_total = batches[-1]
        assert last_position + last_total == len(data), (
            f"{log_path}: batches end at {last_position + last_total}, file is {len(data)} bytes"
        )
        assert batches[0][1] == 0 and last_offset == end - 1, f"{log_path}: offsets {batches[0][1]}..{last_offset}"
