"""Issue 13: a client's read is answered by the partition's leader only, as in Apache Kafka.

A broker that does not lead a partition (a follower, or a replica with no role yet) refuses a
client's Fetch, ListOffsets and OffsetForLeaderEpoch for it with NOT_LEADER_OR_FOLLOWER (6), per
partition: the client refreshes its metadata and goes to the leader. Kafka's
`Partition.getLocalLog(currentLeaderEpoch, requireLeader)`: the current epoch is checked first
(FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH), then the leadership; ListOffsets from a client
(`fetchOnlyFromLeader`) and OffsetForLeaderEpoch (`lastOffsetForLeaderEpoch(...,
fetchOnlyFromLeader = true)`) always require it, Fetch from a consumer does too (millrace
names no preferred read replica, KIP-392, so a client only fetches from a follower on stale
metadata). A new leader whose high watermark has not reached the offset its epoch started at
answers ListOffsets latest OFFSET_NOT_AVAILABLE (78, KIP-207) rather than a stale end.

The bug: after a kill -9 of the whole cluster, a restarted broker whose replayed metadata still
named it leader held the partition as a follower of no one until the controller registered it
again, yet served clients from its high watermark (0: the checkpoint of the records was not
written yet): consumers saw empty partitions though every record had been acknowledged
with acks=all.
"""

import time

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

import kafka_wire
from clients import new_consumer, new_producer, produce_all, unique_topic
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_leader_epochs_checkpoint_and_offset_for_leader_epoch import offset_for_leader_epoch
from test_replication_rf3_followers_hold_the_leaders_bytes import (
    create_rf3_topic, wait_for_identical_logs, wait_for_leader)

RECORDS = 300
NOT_LEADER_OR_FOLLOWER = 6
OFFSET_NOT_AVAILABLE = 78
LATEST = -1
# Kill -9 of all three, restart, controller election, re-registration (the crashed incarnations'
# 9 s sessions), leader election and the followers' first fetches: all within this.
RECOVERY_TIMEOUT_S = 90
POLL_INTERVAL_S = 0.1


def produce_acknowledged(bootstrap, topic):
    """RECORDS acks=all records to partition 0; returns their values by offset."""
    producer = new_producer(bootstrap, acks="all", **{"enable.idempotence": True, "linger.ms": 5})
    delivered = produce_all(producer, topic, [(None, b"acked-%d" % i) for i in range(RECORDS)],
                            partition=0)
    assert not delivered.errors, delivered.errors[:3]
    acked = {offset: value for _, offset, _, value in delivered.delivered}
    assert sorted(acked) == list(range(RECORDS))
    return acked


def list_latest(node, topic):
    """(error code, offset) of ListOffsets latest for partition 0 from `node`, or None when the
    broker is not answering yet."""
    try:
        with kafka_wire.connect(node.bootstrap, timeout_s=5) as sock:
            error, _, offset = kafka_wire.list_offsets_v1(sock, 1, topic, {0: LATEST})[0]
            return error, offset
    except OSError:
        return None


def fetch_from_start(node, topic):
    """(error code, high watermark, record bytes) of a consumer's Fetch v4 of partition 0 at
    offset 0 from `node`."""
    with kafka_wire.connect(node.bootstrap) as sock:
        return kafka_wire.fetch_v4(sock, 1, topic, {0: 0}, max_wait_ms=0)[0]


def read_every_record(bootstrap, topic, expected, timeout_s):
    """A confluent-kafka consumer from the beginning of partition 0, read until it has every
    offset of `expected` or the deadline (end-of-partition events are not the end: a new
    leader's high watermark may still be catching up). Returns {offset: value}."""
    consumer = new_consumer(bootstrap, **{"auto.offset.reset": "earliest"})
    received = {}
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout_s
        while len(received) < len(expected) and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                if message.error() is None:
                    received[message.offset()] = message.value()
    finally:
        consumer.close()
    return received


def test_after_a_whole_cluster_kill_9_consumers_read_every_acknowledged_record(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-kill-all")
    create_rf3_topic(cluster.bootstrap, topic)
    acked = produce_acknowledged(cluster.bootstrap, topic)
    # At once: replica.high.watermark.checkpoint.interval.ms (5 s) has not named them yet.
    for broker in cluster.nodes:
        cluster.kill(broker)
    for broker in cluster.nodes:
        cluster.node(broker).launch()
    for broker in cluster.nodes:
        cluster.node(broker).wait_ready()

    # Every broker, from its restart until the cluster serves the records: a ListOffsets
    # latest answered without error is at least the acknowledged end (Kafka: a non-leader
    # refuses, a new leader whose watermark lags its epoch start answers OFFSET_NOT_AVAILABLE).
    stale, answers = [], []
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        found = {b: list_latest(cluster.node(b), topic) for b in cluster.nodes}
        answers.append(found)
        stale += [(b, a) for b, a in found.items() if a and a[0] == 0 and a[1] < RECORDS]
        if stale or any(a == (0, RECORDS) for a in found.values()):
            break
        time.sleep(POLL_INTERVAL_S)
    assert not stale, (
        f"after the restart, brokers answered ListOffsets latest below the {RECORDS} "
        f"acknowledged records: {stale[:5]} (first answers {answers[:3]})")
    assert any(a == (0, RECORDS) for a in answers[-1].values()), answers[-3:]

    received = read_every_record(cluster.bootstrap, topic, acked, RECOVERY_TIMEOUT_S)
    missing = sorted(set(acked) - set(received))
    assert not missing, (f"{len(missing)} of {RECORDS} acknowledged records not read within "
                         f"{RECOVERY_TIMEOUT_S}s, from offset {missing[0]}")
    assert received == acked


def test_a_follower_refuses_a_clients_fetch_list_offsets_and_epoch_query(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-follower-refuses")
    placement = create_rf3_topic(cluster.bootstrap, topic)
    acked = produce_acknowledged(cluster.bootstrap, topic)
    wait_for_identical_logs(cluster, topic, [1, 2, 3], RECORDS)
    leader = wait_for_leader(cluster.bootstrap, topic).leader
    assert leader == placement.leader
    followers = [b for b in cluster.nodes if b != leader]

    answers = {}
    for broker in cluster.nodes:
        node = cluster.node(broker)
        error, high_watermark, records = fetch_from_start(node, topic)
        epoch_answer = offset_for_leader_epoch(node.bootstrap, topic, [(0, -1, 0)])[0]
        answers[broker] = {
            "fetch": (error, high_watermark, len(records) > 0),
            "list_offsets": list_latest(node, topic),
            "offset_for_leader_epoch": epoch_answer[1],
        }
    assert answers[leader] == {
        "fetch": (0, RECORDS, True),
        "list_offsets": (0, RECORDS),
        "offset_for_leader_epoch": 0,
    }, answers
    for follower in followers:
        got = answers[follower]
        assert got["fetch"][0] == NOT_LEADER_OR_FOLLOWER, (follower, answers)
        assert got["list_offsets"][0] == NOT_LEADER_OR_FOLLOWER, (follower, answers)
        assert got["offset_for_leader_epoch"] == NOT_LEADER_OR_FOLLOWER, (follower, answers)
    assert len(acked) == RECORDS
