"""Committed offsets do not depend on the shard count (issue 10 defect 3).

Groups commit on a broker with num.shards=2; the broker restarts on the same data dir with
num.shards=1, then 3. Each time OffsetFetch (librdkafka's committed()) returns every group's
commits, and a new member of one group resumes exactly where the group committed. The last
restart also changes offsets.topic.num.partitions, which the first start fixed (as Kafka's topic
keeps its partition count): logged and ignored, nothing lost. Before, the
commits lived in a per-shard file and groups were placed by hash % shard count: a group whose
shard changed answered -1 and its consumers reset.

Also: a data dir written by an older millrace (offsets in `__millrace_offsets-<shard>/offsets.log`)
keeps its commits after the upgrade, whatever the new shard count.
"""

import struct
import time

from confluent_kafka import TopicPartition

from clients import create_topic, group_consumer, new_producer, produce_all, unique_topic

PARTITIONS = 3
RECORDS_PER_PARTITION = 400
# Enough groups that, whatever the hash, some change shard with the shard count.
GROUPS = 12
DEADLINE_S = 60.0
FETCH_TIMEOUT_S = 15


def commits_for(index):
    return {p: 10 * index + 7 * p + 1 for p in range(PARTITIONS)}


def commit_as_simple_consumer(bootstrap, group, topic, offsets):
    consumer = group_consumer(bootstrap, group)
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def committed(bootstrap, group, topic):
    consumer = group_consumer(bootstrap, group)
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=FETCH_TIMEOUT_S)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def first_offsets_read(bootstrap, group, topic):
    """A new member subscribes; the first offset it reads in each partition."""
    consumer = group_consumer(bootstrap, group)
    try:
        consumer.subscribe([topic])
        first = {}
        deadline = time.monotonic() + DEADLINE_S
        while len(first) < PARTITIONS:
            assert time.monotonic() < deadline, f"first offsets so far {first}"
            for msg in consumer.consume(num_messages=1000, timeout=0.1):
                if msg.error() is None:
                    first.setdefault(msg.partition(), msg.offset())
        return first
    finally:
        consumer.close()


def filled_topic(bootstrap):
    topic = unique_topic("shards")
    create_topic(bootstrap, topic, PARTITIONS)
    producer = new_producer(bootstrap)
    for partition in range(PARTITIONS):
        produce_all(producer, topic, ((None, b"x") for _ in range(RECORDS_PER_PARTITION)), partition=partition)
    return topic


def restart_with_shards(b, shards):
    b.stop()
    b.overrides["num.shards"] = shards
    b.start()


def assert_logged(b, text):
    assert text in b.stderr_path.read_text(errors="replace"), f"not logged: {text}"


def assert_every_group_kept(bootstrap, groups, topic):
    lost = {}
    for index, group in enumerate(groups):
        found = committed(bootstrap, group, topic)
        if found != commits_for(index):
            lost[group] = found
    assert not lost, f"{len(lost)} of {len(groups)} groups lost their commits: {lost}"


def test_commits_survive_num_shards_2_to_1_to_3(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0, "num.shards": 2})
    topic = filled_topic(b.bootstrap)
    groups = [unique_topic(f"shards-g{i}") for i in range(GROUPS)]
    for index, group in enumerate(groups):
        commit_as_simple_consumer(b.bootstrap, group, topic, commits_for(index))
    assert_every_group_kept(b.bootstrap, groups, topic)

    for shards in (1, 3):
        restart_with_shards(b, shards)
        assert_every_group_kept(b.bootstrap, groups, topic)
        # The partition count is fixed by the first start, as Kafka's topic keeps its count: a
        # changed key is logged and ignored, and no group moves to another partition.
        b.overrides["offsets.topic.num.partitions"] = 7
        # A group that resumes reads from its commits, not from the start.
        resumed = groups[shards]
        assert first_offsets_read(b.bootstrap, resumed, topic) == commits_for(shards)
    assert_logged(b, "offsets.topic.num.partitions=7 ignored")


# The pre-upgrade format (src/coordinator/offsets.rs before the offsets partitions):
# [u32 body length][u32 crc32c(body)][body], body = kind 1, group, topic, partition, offset,
# leader epoch, commit time ms, metadata; strings as u32 length + bytes; big-endian.
OLD_OFFSETS_DIR = "__millrace_offsets-{shard}"
OLD_OFFSETS_FILE = "offsets.log"
OLD_KIND_COMMIT = 1


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def old_string(value):
    raw = value.encode()
    return struct.pack(">I", len(raw)) + raw


def old_commit_record(group, topic, partition, offset, commit_time_ms):
    body = bytes([OLD_KIND_COMMIT]) + old_string(group) + old_string(topic)
    body += struct.pack(">iqiq", partition, offset, -1, commit_time_ms) + old_string("old")
    return struct.pack(">II", len(body), crc32c(body)) + body


def test_an_old_data_dir_keeps_its_commits_after_the_upgrade(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0, "num.shards": 2})
    topic = filled_topic(b.bootstrap)
    b.stop()
    # What an older broker with 2 shards left: each group's commits in one shard's file.
    groups = [unique_topic(f"old-g{i}") for i in range(GROUPS)]
    now_ms = int(time.time() * 1000)
    files = {0: b"", 1: b""}
    for index, group in enumerate(groups):
        for partition, offset in commits_for(index).items():
            old_shard = crc32c(group.encode()) % 2
            files[old_shard] += old_commit_record(group, topic, partition, offset, now_ms)
    for shard, records in files.items():
        directory = b.data_dir / OLD_OFFSETS_DIR.format(shard=shard)
        directory.mkdir(exist_ok=True)
        (directory / OLD_OFFSETS_FILE).write_bytes(records)

    b.overrides["num.shards"] = 1
    b.start()
    assert_every_group_kept(b.bootstrap, groups, topic)
    # Imported once: the old files are gone, and a second restart (other shard count) still
    # has every commit.
    assert not any((b.data_dir / OLD_OFFSETS_DIR.format(shard=s)).exists() for s in files)
    restart_with_shards(b, 3)
    assert_every_group_kept(b.bootstrap, groups, topic)
    assert first_offsets_read(b.bootstrap, groups[0], topic) == commits_for(0)
