"""Issue 13: partitions replicate. Three `millrace serve FILE` brokers (num.shards=1); a topic at
replication factor 3 with min.insync.replicas=2. Followers fetch from the leader over Kafka's Fetch
protocol and append the batches as the leader wrote them, so every broker's log holds the same
bytes; an acks=all record is acknowledged only once the in-sync replicas hold it durably, so a
kill -9 of the leader loses no acknowledged record and an idempotent producer's retry to the new
leader is not duplicated."""

import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire
from jepsen.nemesis import pause, resume
from clients import AcksAllLoad, consume_all, new_producer, produce_all, quiet_config, unique_topic
from cluster_fixture import FAST_SESSIONS, PAUSED_FOLLOWER_SESSIONS
from test_cluster_three_brokers_serve_clients import wait_for_brokers

ADMIN_TIMEOUT_S = 30
# Followers fetch with a 500 ms long poll; a few rounds is plenty.
CONVERGE_TIMEOUT_S = 30
# The controller fences a silent broker after its 9 s session (4.5 s with FAST_SESSIONS, which the
# kill -9 test uses; 7 s in the pause test, whose followers are paused too), then elects from the
# ISR.
FAILOVER_TIMEOUT_S = 40
KCAT_TIMEOUT_S = 60
BATCH_OVERHEAD_BYTES = 12


def create_rf3_topic(bootstrap, topic, partitions=1, min_insync=2):
    admin = AdminClient(quiet_config(bootstrap))
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=3,
                  config={"min.insync.replicas": str(min_insync)})],
        operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S,
    )
    futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    return wait_for_leader(bootstrap, topic)


def wait_for_leader(bootstrap, topic, partition=0, other_than=None, timeout_s=FAILOVER_TIMEOUT_S):
    """Polls Metadata until the partition has a leader (other than `other_than`); returns its
    PartitionMetadata."""
    admin = AdminClient(quiet_config(bootstrap))
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        try:
            found = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
            if found is not None and found.error is None and partition in found.partitions:
                seen = found.partitions[partition]
                if seen.leader >= 0 and seen.leader != other_than:
                    return seen
        except Exception as error:  # noqa: BLE001 (retried while the cluster moves)
            seen = error
        time.sleep(0.2)
    pytest.fail(f"{topic}[{partition}]: no leader other than {other_than} within {timeout_s}s: {seen}")


def log_batches(data_dir, topic, partition=0):
    """Every record batch in the partition's segment files on one broker, in offset order, as
    (base_offset, bytes): the files are read as they are on disk (a preallocated tail of zeros
    ends a segment)."""
    directory = Path(data_dir) / f"{topic}-{partition}"
    batches = []
    for segment in sorted(directory.glob("*.log")):
        data = segment.read_bytes()
        position = 0
        while position + BATCH_OVERHEAD_BYTES <= len(data):
            base_offset, length = struct.unpack_from(">qi", data, position)
            end = position + BATCH_OVERHEAD_BYTES + length
            if length <= 0 or end > len(data):
                break
            batches.append((base_offset, data[position:end]))
            position = end
    return batches


def wait_for_identical_logs(cluster, topic, brokers, end_offset):
    """Waits until every broker in `brokers` holds batches up to `end_offset`, then asserts their
    bytes are identical up to there."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while True:
        logs = {b: [(o, raw) for o, raw in log_batches(cluster.node(b).data_dir, topic)
                    if o < end_offset] for b in brokers}
        ends = {b: last_offset_after(batches) for b, batches in logs.items()}
        if all(end >= end_offset for end in ends.values()):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"{topic}: logs did not reach offset {end_offset}: {ends}")
        time.sleep(0.2)
    first, *others = brokers
    for other in others:
        assert logs[other] == logs[first], f"broker {other}'s log differs from broker {first}'s"
    return logs[first]


def last_offset_after(batches):
    """The offset after the last record of `batches` (0 when empty)."""
    if not batches:
        return 0
    base_offset, raw = batches[-1]
    (last_offset_delta,) = struct.unpack_from(">i", raw, 23)
    return base_offset + last_offset_delta + 1


def test_rf3_acks_all_records_are_on_every_broker_byte_for_byte(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-bytes")
    placement = create_rf3_topic(cluster.bootstrap, topic)
    assert sorted(placement.replicas) == [1, 2, 3]
    producer = new_producer(cluster.bootstrap, acks="all", **{"enable.idempotence": True, "linger.ms": 5})
    delivered = produce_all(producer, topic, [(b"k%d" % i, b"confluent-%d" % i) for i in range(500)],
                            partition=0)
    assert not delivered.errors, delivered.errors[:3]
    assert [offset for _, offset, _, _ in delivered.delivered] == list(range(500))
    # A second client: kcat (librdkafka's CLI) with acks=all, one message per line.
    lines = "".join(f"kcat-{i}\n" for i in range(200)).encode()
    kcat = subprocess.run(
        ["kcat", "-P", "-b", cluster.bootstrap, "-t", topic, "-p", "0", "-X", "acks=all",
         "-X", "broker.address.family=v4"],
        input=lines, capture_output=True, timeout=KCAT_TIMEOUT_S, check=False,
    )
    assert kcat.returncode == 0, kcat.stderr.decode()
    batches = wait_for_identical_logs(cluster, topic, [1, 2, 3], 700)
    assert last_offset_after(batches) == 700
    # Every broker stamped nothing of its own: the leader's epoch is in every batch.
    epochs = {struct.unpack_from(">i", raw, 12)[0] for _, raw in batches}
    assert len(epochs) == 1, epochs
    received = consume_all(cluster.bootstrap, topic, 1)[0]
    assert [value for _, _, value in received] == (
        [b"confluent-%d" % i for i in range(500)] + [b"kcat-%d" % i for i in range(200)])


def test_kill_9_of_the_leader_under_acks_all_load_loses_no_acknowledged_record(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=FAST_SESSIONS)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-failover")
    old = create_rf3_topic(cluster.bootstrap, topic).leader
    load = AcksAllLoad(cluster.bootstrap, topic, **{"enable.idempotence": True, "message.timeout.ms": 60000})
    load.start()
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while len(load.acked) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(load.acked) >= 2000, f"only {len(load.acked)} acknowledged before the kill"
    cluster.kill(old)
    acked_at_kill = len(load.acked)
    new = wait_for_leader(cluster.bootstrap, topic, other_than=old).leader
    deadline = time.monotonic() + FAILOVER_TIMEOUT_S
    while len(load.acked) < acked_at_kill + 1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    load.stopping.set()
    load.join(30)
    assert len(load.acked) >= acked_at_kill + 1000, (
        f"new leader {new}: {len(load.acked) - acked_at_kill} acknowledged after the kill")
    received = consume_all(cluster.bootstrap, topic, 1)[0]
    at = {offset: value for offset, _, value in received}
    lost = [(offset, value) for _, offset, value in load.acked if at.get(offset) != value]
    assert not lost, f"{len(lost)} acknowledged records not at their offsets, e.g. {lost[:3]}"
    values = [value for _, _, value in received]
    assert len(values) == len(set(values)), "an idempotent producer's retry was duplicated"
    assert [offset for offset, _, _ in received] == list(range(len(received)))


NOT_LEADER_OR_FOLLOWER = 6
REQUEST_TIMED_OUT = 7
NOT_ENOUGH_REPLICAS = 19
NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20


def raw_produce(broker, topic, partition, values, acks=-1, timeout_ms=10000):
    """One Produce v3 of one batch straight to `broker` (a ClusterNode): (error, base offset)."""
    batch = kafka_wire.encode_record_batch([(None, v) for v in values], int(time.time() * 1000))
    with kafka_wire.connect(broker.bootstrap, timeout_s=timeout_ms / 1000 + 30) as sock:
        return kafka_wire.produce_v3(sock, 1, topic, {partition: batch}, acks=acks,
                                     timeout_ms=timeout_ms)[partition]


def produce_once_led(broker, topic, partition, values):
    """raw_produce (acks=all), retried while `broker` has not yet applied the metadata that
    makes it the leader (Metadata may name it a moment before it does)."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        error, base = raw_produce(broker, topic, partition, values)
        if error != NOT_LEADER_OR_FOLLOWER or time.monotonic() > deadline:
            return error, base
        time.sleep(0.1)


def wait_for_isr(bootstrap, topic, partition, isr, timeout_s=FAILOVER_TIMEOUT_S):
    admin = AdminClient(quiet_config(bootstrap))
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = admin.list_topics(topic=topic, timeout=5).topics[topic].partitions[partition].isrs
            if sorted(seen) == sorted(isr):
                return
        except Exception as error:  # noqa: BLE001 (retried while brokers are fenced)
            seen = error
        time.sleep(0.2)
    pytest.fail(f"{topic}[{partition}]: ISR {seen}, expected {isr} within {timeout_s}s")


def test_two_of_three_replicas_lost_nothing_is_acknowledged_and_produce_gets_not_enough_replicas(
        millrace_cluster):
    # Voters 1-3 and a broker-only node 4: the two replicas lost may include one voter and the
    # metadata quorum still works, so the controller can take them out of the ISR.
    cluster = millrace_cluster(brokers=4)
    wait_for_brokers(cluster.bootstrap, 4)
    topic = unique_topic("rf3-min-isr")
    create_rf3_topic(cluster.bootstrap, topic, partitions=4)
    partitions = AdminClient(quiet_config(cluster.bootstrap)).list_topics(topic=topic, timeout=10).topics[topic].partitions
    partition, meta = next((p, m) for p, m in sorted(partitions.items())
                           if m.leader != 4 and 4 in m.replicas)
    leader = cluster.node(meta.leader)
    lost = [r for r in meta.replicas if r != meta.leader]
    error, _ = produce_once_led(leader, topic, partition, [b"before-%d" % i for i in range(10)])
    assert error == 0
    for broker in lost:
        cluster.kill(broker)
    # The ISR still names the lost brokers until the controller fences them: an acks=all record
    # appended now cannot reach them and must not be acknowledged.
    error, _ = raw_produce(leader, topic, partition, [b"unreplicable"], timeout_ms=3000)
    assert error in (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND), error
    survivors = ",".join(cluster.node(b).bootstrap for b in cluster.nodes if b not in lost)
    wait_for_isr(survivors, topic, partition, [meta.leader])
    error, _ = raw_produce(leader, topic, partition, [b"refused"])
    assert error == NOT_ENOUGH_REPLICAS
    error, _ = raw_produce(leader, topic, partition, [b"acks-1"], acks=1)
    assert error == 0, "acks=1 does not need the ISR"


def test_a_paused_leader_acknowledges_nothing_and_its_tail_is_truncated_when_it_rejoins(
        millrace_cluster):
    # 7 s sessions, not 4.5 s: both followers are paused while the leader writes alone, and must
    # still be in the ISR when they wake, even if the active controller was one of them.
    cluster = millrace_cluster(brokers=3, extra=PAUSED_FOLLOWER_SESSIONS)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-truncate")
    old = create_rf3_topic(cluster.bootstrap, topic).leader
    followers = [b for b in (1, 2, 3) if b != old]
    leader = cluster.node(old)
    error, _ = produce_once_led(leader, topic, 0, [b"common-%d" % i for i in range(100)])
    assert error == 0
    wait_for_identical_logs(cluster, topic, [1, 2, 3], 100)
    for broker in followers:
        pause(cluster.node(broker))
    # The followers' parked long polls (500 ms) are answered, empty, before the next appends.
    time.sleep(1.5)
    error, base = raw_produce(leader, topic, 0, [b"zombie-acks-1-%d" % i for i in range(10)], acks=1)
    assert (error, base) == (0, 100)
    zombie_acks_all = ThreadWithResult(lambda: raw_produce(
        leader, topic, 0, [b"zombie-acks-all-%d" % i for i in range(5)], timeout_ms=60000))
    zombie_acks_all.start()
    time.sleep(0.5)
    pause(leader)
    for broker in followers:
        resume(cluster.node(broker))
    survivors = ",".join(cluster.node(b).bootstrap for b in followers)
    new = wait_for_leader(survivors, topic, other_than=old).leader
    error, base = produce_once_led(cluster.node(new), topic, 0, [b"new-%d" % i for i in range(50)])
    assert (error, base) == (0, 100)
    resume(leader)
    zombie_acks_all.join(60)
    error, _ = zombie_acks_all.result
    assert error != 0, "a paused leader acknowledged an acks=all record after it was replaced"
    batches = wait_for_identical_logs(cluster, topic, [new, *[b for b in (1, 2, 3) if b != new]], 150)
    assert all(b"zombie" not in raw for _, raw in batches)
    received = consume_all(cluster.bootstrap, topic, 1)[0]
    assert [v for _, _, v in received] == (
        [b"common-%d" % i for i in range(100)] + [b"new-%d" % i for i in range(50)])


class ThreadWithResult(threading.Thread):
    def __init__(self, target):
        super().__init__(daemon=True)
        self.target = target
        self.result = None

    def run(self):
        self.result = self.target()
