"""A broker whose open-file limit is below two descriptors per partition (issue 10, defect 13)
still creates, fills and serves a topic of that many partitions: a partition holds one
descriptor (its active segment's O_DIRECT file) and the buffered read handles fetches send
from are opened on demand and kept in a bounded per-shard cache (`log.read.handles.per.shard`).

Started under `prlimit --nofile=LIMIT:LIMIT`; every partition gets more than one 4 KiB block of
records with nothing kept in memory (`log.recent.bytes.*` = 0), so fetches read the files: far
more partitions are read than the cache holds (the fewest handles, 8 per shard), and a second
pass reads partitions whose handle was evicted. Every record of both passes is checked, and
throughout the reads (sampled, plus the send helpers' one each) and afterwards the broker holds
at most one `.log` descriptor per partition plus the cache's: a handle evicted while a fetch answer in flight holds it counts
until that answer is sent (before, one fetch of ~1,000 partitions per shard held a handle per
partition past the cache, up to 3,973 `.log` descriptors, and reads failed with EMFILE).

Past the room the limit leaves (LIMIT - 1024 reserved - the read handles, 1 per partition), a
CreateTopics or CreatePartitions is refused with INVALID_PARTITIONS naming the limit, and nothing
of it is created (before: KAFKA_STORAGE_ERROR at EMFILE, midway)."""

import os
import threading

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from clients import ADMIN_TIMEOUT_S, consume_all, new_producer, quiet_config, unique_topic
from conftest import Broker

# Soft = hard: the broker cannot raise it. Two descriptors per partition would need
# 2 * PARTITIONS plus the broker's own (about 15 idle) > LIMIT.
LIMIT = 4000
PARTITIONS = 2100
SHARDS = 2
RECORDS_PER_PARTITION = 5
VALUE_BYTES = 1000  # 5 records > one 4 KiB block: the first block is read from the file
READ_HANDLES_PER_SHARD = 8
# Each client send helper (CLIENT_HELPERS_PER_SHARD in local/helper_pool.rs) reads the region it
# sends through its own O_DIRECT descriptor of the segment, open while it sends: not per partition.
SEND_HELPERS_PER_SHARD = 4
OFFSETS_PARTITIONS = 50  # offsets.topic.num.partitions: counted in the budget
# Room for partitions: LIMIT - 1024 reserved - the read handles of both shards.
ROOM = LIMIT - 1024 - SHARDS * READ_HANDLES_PER_SHARD
OVER = ROOM - PARTITIONS - OFFSETS_PARTITIONS + 1  # one partition too many


class LimitedBroker(Broker):
    """The conftest broker started under a lowered RLIMIT_NOFILE."""

    def command(self):
        return ["prlimit", f"--nofile={LIMIT}:{LIMIT}", "--"] + super().command()


def value(partition, index):
    head = f"p{partition}-r{index}-".encode()
    return head + b"x" * (VALUE_BYTES - len(head))


def test_a_topic_of_more_partitions_than_two_descriptors_each_allow_is_served_whole(tmp_path):
    data_dir = tmp_path / "broker" / "data"
    data_dir.mkdir(parents=True)
    overrides = {
        "num.shards": SHARDS,
        "log.read.handles.per.shard": READ_HANDLES_PER_SHARD,
        "log.recent.bytes.per.partition": 0,
        "log.recent.bytes.per.partition.min": 0,
        "log.recent.bytes.per.shard.max": 0,
    }
    broker = LimitedBroker(data_dir, data_dir.parent / "stderr.log", overrides)
    try:
        broker.start()
        topic = unique_topic("fds")
        admin = AdminClient(quiet_config(broker.bootstrap))
        futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
                                      operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S)
        futures[topic].result(timeout=ADMIN_TIMEOUT_S)

        producer = new_producer(broker.bootstrap, acks="all", **{"linger.ms": 5})
        log = DeliveryErrors()
        for index in range(RECORDS_PER_PARTITION):
            for partition in range(PARTITIONS):
                produce_one(producer, topic, value(partition, index), partition, log)
        assert producer.flush(ADMIN_TIMEOUT_S) == 0
        assert not log.errors, log.errors[:5]

        expected = {p: [(i, b"k", value(p, i)) for i in range(RECORDS_PER_PARTITION)] for p in range(PARTITIONS)}
        most_log_fds = DescriptorPeak(broker.process.pid, data_dir)
        most_log_fds.start()
        try:
            for read_pass in range(2):
                received = consume_all(broker.bootstrap, topic, PARTITIONS)
                wrong = [p for p in range(PARTITIONS) if received[p] != expected[p]]
                assert wrong == [], f"pass {read_pass}: partitions read wrong: {wrong[:10]} ({len(wrong)})"
        finally:
            most_log_fds.stop()
        log_fds = segment_descriptors(broker.process.pid, data_dir)
        assert log_fds <= PARTITIONS + SHARDS * READ_HANDLES_PER_SHARD, log_fds
        sending = SHARDS * SEND_HELPERS_PER_SHARD
        assert most_log_fds.peak <= PARTITIONS + SHARDS * READ_HANDLES_PER_SHARD + sending, most_log_fds.peak

        over = unique_topic("fds-over")
        refused = admin.create_topics([NewTopic(over, num_partitions=OVER, replication_factor=1)],
                                      request_timeout=ADMIN_TIMEOUT_S)
        assert_refused_for_open_files(refused[over])
        grown = admin.create_partitions([NewPartitions(topic, PARTITIONS + OVER)], request_timeout=ADMIN_TIMEOUT_S)
        assert_refused_for_open_files(grown[topic])
        listed = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
        assert over not in listed and len(listed[topic].partitions) == PARTITIONS
        assert not list(data_dir.glob(f"{over}-*")) and not (data_dir / f"{topic}-{PARTITIONS}").exists()
        assert broker.alive(), broker.stderr_tail()
    except Exception:
        print(broker.stderr_tail())
        raise
    finally:
        broker.kill()


class DescriptorPeak(threading.Thread):
    """The most `.log` descriptors `pid` held at once, sampled until `stop()`."""

    SAMPLE_INTERVAL_S = 0.02

    def __init__(self, pid, data_dir):
        super().__init__(daemon=True)
        self.pid, self.data_dir = pid, data_dir
        self.peak = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(self.SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, segment_descriptors(self.pid, self.data_dir))

    def stop(self):
        self.stopping.set()
        self.join()


def segment_descriptors(pid, data_dir):
    """Descriptors of `pid` open on segment files (`.log` under `data_dir`)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            count += target.startswith(f"{data_dir}/") and target.endswith(".log")
        except OSError:
            pass  # closed meanwhile
    return count


def assert_refused_for_open_files(future):
    with pytest.raises(KafkaException) as refused:
        future.result(timeout=ADMIN_TIMEOUT_S)
    error = refused.value.args[0]
    assert error.code() == KafkaError.INVALID_PARTITIONS, error
    assert "open-file limit (RLIMIT_NOFILE) leaves room for" in error.str(), error


class DeliveryErrors:
    """Delivery reports: failures kept."""

    def __init__(self):
        self.errors = []

    def __call__(self, err, msg):
        if err is not None:
            self.errors.append((msg.partition(), str(err)))


def produce_one(producer, topic, val, partition, log):
    """One record, with the queue drained while it is full."""
    while True:
        try:
            producer.produce(topic, key=b"k", value=val, partition=partition, on_delivery=log)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.05)
