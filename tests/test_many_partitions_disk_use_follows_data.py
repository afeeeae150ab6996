"""Disk use follows the data, not the partition count. Each partition's active segment is
preallocated ahead of its writes in steps that start small and grow only for partitions that
write fast, and a partition that goes idle gives back what it did not use. With many partitions
each holding a little data, the allocated blocks stay within twice the data plus one small first
step per partition (64 MiB steps reserved 64 MiB per partition before), and once the partitions
are idle, within the data rounded up to blocks; the data reads back whole."""

import os
import time

from clients import consume_all, create_topic, new_producer, produce_all, unique_topic

PARTITIONS = 40
RECORDS_PER_PARTITION = 20
VALUE = b"x" * 1000
FIRST_STEP_BYTES = 64 << 10
BLOCK_BYTES = 4096
# Per partition beside its data: small files (offset and time index, producer state snapshot),
# one block each, and extent tree blocks, which st_blocks counts too.
OTHER_FILES_BYTES = 3 * BLOCK_BYTES + (16 << 10)
# Record batch framing on top of keys and values (~2% for these 1 KB records).
FRAMING = 1.05
IDLE_GIVE_BACK_WAIT_S = 60.0
POLL_S = 0.5


def allocated_bytes(data_dir, topic):
    """Allocated bytes (st_blocks) of every file of the topic's partitions."""
    return sum(
        os.stat(path).st_blocks * 512
        for partition in range(PARTITIONS)
        for path in (data_dir / f"{topic}-{partition}").iterdir()
    )


def test_many_partitions_reserve_disk_by_their_data(broker):
    b = broker()
    topic = unique_topic("diskuse")
    create_topic(b.bootstrap, topic, PARTITIONS)
    producer = new_producer(b.bootstrap, acks="all", **{"linger.ms": 5})
    payload = 0
    for partition in range(PARTITIONS):
        messages = [(f"{partition}-{i}".encode(), VALUE) for i in range(RECORDS_PER_PARTITION)]
        log = produce_all(producer, topic, messages, partition=partition)
        assert not log.errors
        payload += sum(len(key) + len(value) for key, value in messages)
    data = int(payload * FRAMING)

    allocated = allocated_bytes(b.data_dir, topic)
    bound = 2 * data + PARTITIONS * (FIRST_STEP_BYTES + OTHER_FILES_BYTES)
    assert allocated <= bound, f"{allocated} bytes allocated for {payload} bytes of records"

    # Idle partitions give back what they did not use.
    idle_bound = data + PARTITIONS * (BLOCK_BYTES + OTHER_FILES_BYTES)
    deadline = time.monotonic() + IDLE_GIVE_BACK_WAIT_S
    while (allocated := allocated_bytes(b.data_dir, topic)) > idle_bound:
        assert time.monotonic() < deadline, f"still {allocated} bytes allocated after going idle"
        time.sleep(POLL_S)

    received = consume_all(b.bootstrap, topic, PARTITIONS)
    assert all(len(records) == RECORDS_PER_PARTITION for records in received.values())
