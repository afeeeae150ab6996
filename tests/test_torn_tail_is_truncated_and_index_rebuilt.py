"""A damaged active segment: its last batch torn partway (and a byte flipped), or only its CRC
broken, or garbage written after it; the offset index deleted. The broker starts, cuts the log
back to the last whole valid batch, rebuilds the index, serves every earlier record, and new
appends continue right after the cut. Done after a clean stop and after kill -9."""

import os

import pytest

import kafka_wire
from clients import (
    assert_contiguous_from_zero,
    consume_all,
    create_topic,
    new_producer,
    produce_all,
    unique_topic,
)

ROUNDS = 20
PER_ROUND = 50
LAST_BATCH_SIZE = 40
SEGMENT = "00000000000000000000"
INDEX_ENTRY_BYTES = 8
GARBAGE = bytes(range(7, 250, 3)) * 3


def round_messages(tag, count):
    return [(f"{tag}-k{i}".encode(), f"{tag}-v{i}-{'p' * 40}".encode()) for i in range(count)]


@pytest.mark.parametrize("stop", ["clean", "kill"])
@pytest.mark.parametrize("damage", ["torn-and-flipped", "crc-only", "garbage-after"])
def test_damaged_tail_is_cut_and_earlier_records_served(broker, stop, damage):
    b = broker()
    topic = unique_topic("torn")
    create_topic(b.bootstrap, topic, 1)
    producer = new_producer(b.bootstrap, acks="all", **{"linger.ms": 50, "batch.num.messages": 10000})
    delivered = []
    for r in range(ROUNDS):  # one flush per round: at least one batch each
        log = produce_all(producer, topic, round_messages(f"r{r}", PER_ROUND), partition=0)
        assert not log.errors
        delivered += log.delivered
    last = produce_all(producer, topic, round_messages("last", LAST_BATCH_SIZE), partition=0)
    assert not last.errors
    delivered += last.delivered

    if stop == "clean":
        assert b.stop() == 0
    else:
        b.kill()
    partition_dir = b.data_dir / f"{topic}-0"
    log_path = partition_dir / f"{SEGMENT}.log"
    data = log_path.read_bytes()
    batches = kafka_wire.walk_log_segment(data)
    assert batches and batches[-1][2] == len(delivered) - 1, f"segment walk ends at {batches[-1:]}"
    position, base_offset, _, total = batches[-1]

    if damage == "torn-and-flipped":
        flip_byte(log_path, position + kafka_wire.RECORD_BATCH_HEADER_BYTES + 5)
        with open(log_path, "r+b") as f:
            f.truncate(position + total // 2)
        survivors = base_offset
    elif damage == "crc-only":
        flip_byte(log_path, position + total - 3)
        survivors = base_offset
    else:
        with open(log_path, "r+b") as f:
            f.seek(position + total)
            f.write(GARBAGE)
        survivors = len(delivered)
    (partition_dir / f"{SEGMENT}.index").unlink(missing_ok=True)

    b.start()
    received = consume_all(b.bootstrap, topic, 1)[0]

    expected = {o: (k, v) for _, o, k, v in delivered if o < survivors}
    assert_contiguous_from_zero({0: received})
    assert len(received) == survivors, f"served {len(received)} records, expected the {survivors} before the damage"
    assert {o: (k, v) for o, k, v in received} == expected

    after = produce_all(new_producer(b.bootstrap, acks="all"), topic, round_messages("after", 5), partition=0)
    assert not after.errors
    assert sorted(o for _, o, _, _ in after.delivered) == list(range(survivors, survivors + 5))
    assert len(consume_all(b.bootstrap, topic, 1)[0]) == survivors + 5

    assert b.stop() == 0
    assert_index_rebuilt(partition_dir)


def flip_byte(path, position):
    with open(path, "r+b") as f:
        f.seek(position)
        original = f.read(1)
        f.seek(position)
        f.write(bytes([original[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())


def assert_index_rebuilt(partition_dir):
    """The rebuilt .index has Kafka's 8-byte entries: relative offset and position, both
    increasing, each position the start of a batch whose offsets cover the entry's offset."""
    log = (partition_dir / f"{SEGMENT}.log").read_bytes()
    index_path = partition_dir / f"{SEGMENT}.index"
    assert index_path.exists(), "the deleted offset index was not rebuilt"
    index = index_path.read_bytes()
    assert len(index) % INDEX_ENTRY_BYTES == 0, f"index size {len(index)} is not whole entries"
    batches = {pos: (base, last_offset) for pos, base, last_offset, _ in kafka_wire.walk_log_segment(log)}
    entries = [
        (int.from_bytes(index[i : i + 4], "big"), int.from_bytes(index[i + 4 : i + 8], "big"))
        for i in range(0, len(index), INDEX_ENTRY_BYTES)
    ]
    assert entries, f"the index is empty for a {len(log)}-byte log"
    assert entries == sorted(entries), "index entries must increase"
    for relative_offset, position in entries:
        assert position in batches, f"index entry points at {position}, not a batch start"
        base, last_offset = batches[position]
        assert base <= relative_offset <= last_offset, f"entry {relative_offset} outside batch {base}..{last_offset}"
