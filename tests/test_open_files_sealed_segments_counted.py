"""Sealed segments hold open files too, and the open-file budget counts them (issue 10, defect 13).

Each segment of a partition keeps its O_DIRECT descriptor (the active one for writes, the sealed
ones for scans, as Kafka's do). The budget counted one descriptor per partition only, so a data
directory of few partitions and many segments started under a limit it did not fit, and a
CreateTopics that fitted by partition count was accepted where the segments had used the room:
EMFILE later, while serving. Now:
- at start the broker counts the sealed segments on disk, and refuses to start when partitions
  plus sealed segments (plus the read handles and the reserve) pass the limit, naming both;
- CreateTopics counts the descriptors the segments hold now, and refuses with INVALID_PARTITIONS
  what would pass the room, creating nothing;
- a derived read-handle cache (`log.read.handles.per.shard=0`) shrinks, down to 8 per shard, so
  that the segments fit, rather than the start being refused for the cache's share.
"""

import subprocess
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from clients import ADMIN_TIMEOUT_S, DeliveryLog, create_topic, new_producer, quiet_config, unique_topic
from conftest import Broker, free_port
from test_startup_bounded_and_open_files_checked import run_until_exit, serve_command, set_open_file_limit

SEGMENT_BYTES = 4096  # log.segment.bytes' minimum: a few records per segment
VALUE_BYTES = 3500
RECORDS = 200  # one batch each: dozens of segments
SEALED_MIN = 40
OFFSETS_PARTITIONS = 50
SHARDS = 2
READ_HANDLES_PER_SHARD = 8  # set, so the budget's arithmetic does not follow the limit
READ_HANDLES = SHARDS * READ_HANDLES_PER_SHARD
RESERVED = 1024
PARTITIONS = 1 + OFFSETS_PARTITIONS
# Once started, room for this many more segment descriptors beside what is held...
HEADROOM = 30
# ...so this many partitions fit by partition count (51 + 40 is far below the room, the sealed
# segments being more than 40) but not beside the sealed segments (51 + sealed + 40).
MORE_PARTITIONS = 40


def needed(sealed):
    """Descriptors the data directory needs: 1 per partition and per sealed segment, the read
    handles and the reserve."""
    return PARTITIONS + sealed + READ_HANDLES + RESERVED


class LimitedBroker(Broker):
    """The conftest broker started under `prlimit --nofile=LIMIT:LIMIT`."""

    limit = None

    def command(self):
        return ["prlimit", f"--nofile={self.limit}:{self.limit}", "--"] + super().command()


def data_dir_with_sealed_segments(broker):
    handle = broker(**{"num.shards": SHARDS, "log.segment.bytes": SEGMENT_BYTES})
    topic = unique_topic("sealed")
    create_topic(handle.bootstrap, topic, 1)
    producer = new_producer(handle.bootstrap, acks="all", **{"linger.ms": 0})
    log = DeliveryLog()
    for index in range(RECORDS):
        producer.produce(topic, value=bytes([index % 251]) * VALUE_BYTES, partition=0, on_delivery=log)
        producer.flush(ADMIN_TIMEOUT_S)  # one batch per record: one segment each
    assert not log.errors and len(log.delivered) == RECORDS, log.errors[:3]
    assert handle.stop() == 0
    sealed = len(list(handle.data_dir.glob(f"{topic}-0/*.log"))) - 1
    assert sealed >= SEALED_MIN, sealed
    return handle.data_dir, topic, sealed


def test_a_start_counts_sealed_segments_against_the_open_file_limit(broker, tmp_path):
    data_dir, _, sealed = data_dir_with_sealed_segments(broker)
    limit = needed(sealed) - 1  # enough for the partitions alone, not with their sealed segments
    cmd = serve_command(data_dir, free_port(), **{"log.read.handles.per.shard": READ_HANDLES_PER_SHARD})
    code, _, log = run_until_exit(cmd, tmp_path / "tight.log", 60.0, preexec_fn=set_open_file_limit(limit, limit))

    assert code == 1, log[-3000:]
    expected = f"holds {PARTITIONS} partition(s) and {sealed} sealed segment(s), which need about {needed(sealed)} open files"
    assert expected in log, log[-3000:]
    assert f"ulimit -n {needed(sealed)}" in log, log[-3000:]


def test_create_topics_counts_the_descriptors_sealed_segments_hold(broker):
    data_dir, topic, sealed = data_dir_with_sealed_segments(broker)
    overrides = {"num.shards": SHARDS, "log.read.handles.per.shard": READ_HANDLES_PER_SHARD}
    limited = LimitedBroker(data_dir, data_dir.parent / "limited.log", overrides)
    limited.limit = needed(sealed) + HEADROOM
    try:
        limited.start()
        admin = AdminClient(quiet_config(limited.bootstrap))
        more = unique_topic("more")
        futures = admin.create_topics([NewTopic(more, num_partitions=MORE_PARTITIONS, replication_factor=1)],
                                      request_timeout=ADMIN_TIMEOUT_S)
        with pytest.raises(KafkaException) as refused:
            futures[more].result(timeout=ADMIN_TIMEOUT_S)
        error = refused.value.args[0]
        assert error.code() == KafkaError.INVALID_PARTITIONS, error
        assert "open-file limit (RLIMIT_NOFILE) leaves room for" in error.str(), error
        listed = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
        assert more not in listed and topic in listed
        assert not list(data_dir.glob(f"{more}-*"))
        # What fits beside the sealed segments is still created.
        create_topic(limited.bootstrap, unique_topic("fits"), HEADROOM // 2)
        assert limited.alive(), limited.stderr_tail()
    finally:
        limited.kill()


def test_derived_read_handles_shrink_so_the_segments_fit(broker, tmp_path):
    """With `log.read.handles.per.shard` derived (0, the default), a limit the segments fit but
    a quarter of it for read handles does not leaves fewer handles, not a refused start."""
    data_dir, topic, sealed = data_dir_with_sealed_segments(broker)
    wanted_per_shard = 10  # above the fewest (8), below the quarter of the free descriptors
    limit = RESERVED + PARTITIONS + sealed + SHARDS * wanted_per_shard
    log_path = tmp_path / "fitted.log"
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(serve_command(data_dir, port), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   preexec_fn=set_open_file_limit(limit, limit))
    try:
        deadline = time.monotonic() + 60.0
        while "millrace ready" not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        text = log_path.read_text(errors="replace")
        assert f"{wanted_per_shard} read handle(s) per shard ({SHARDS * wanted_per_shard} in all)" in text, text[-3000:]
        topics = AdminClient(quiet_config(f"127.0.0.1:{port}")).list_topics(timeout=ADMIN_TIMEOUT_S).topics
        assert topic in topics
    finally:
        process.kill()
        process.wait(timeout=30)
