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

A ListOffsets with replica id -2 (Kafka's `ListOffsetsRequest.DEBUGGING_REPLICA_ID`, what a
debugging tool sends) is not a client's read: Kafka's `ReplicaManager.fetchOffset` passes
`fetchOnlyFromLeader = false` and no isolation level, so any replica answers from its local log,
bounded by its log end, with the current leader epoch (Kafka's ListOffsetsRequestTest: a follower
answers NONE, a broker that holds no replica NOT_LEADER_OR_FOLLOWER).

KIP-951: the refusal names the leader. A Fetch v16+ refused with NOT_LEADER_OR_FOLLOWER or
FENCED_LEADER_EPOCH and a Produce v10+ refused with NOT_LEADER_OR_FOLLOWER carry the partition's
CurrentLeader (leader id, leader epoch) and the response the NodeEndpoints of those leaders, so a
client (the Java client from 3.7) goes to the new leader without asking for metadata first.

The bug: after a kill -9 of the whole cluster, a restarted broker whose replayed metadata still
named it leader held the partition as a follower of no one until the controller registered it
again, yet served clients from its high watermark (0: the checkpoint of the records was not
written yet): consumers saw empty partitions though every record had been acknowledged
with acks=all.
"""

import struct
import time

from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from kafka.net.compat import KafkaNetClient
from kafka.protocol.consumer import ListOffsetsRequest

import kafka_wire
from clients import new_consumer, new_producer, produce_all, unique_topic
from cluster_fixture import FAST_SESSIONS
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_delete_topics_v6_names_topic_ids import topic_id_of
from test_leader_epochs_checkpoint_and_offset_for_leader_epoch import offset_for_leader_epoch
from test_replication_rf3_followers_hold_the_leaders_bytes import (
    create_rf3_topic, wait_for_identical_logs, wait_for_leader)

RECORDS = 300
NOT_LEADER_OR_FOLLOWER = 6
OFFSET_NOT_AVAILABLE = 78
LATEST = -1
EARLIEST = -2
# Kafka's ListOffsetsRequest.DEBUGGING_REPLICA_ID.
DEBUGGING_REPLICA_ID = -2
CONSUMER_REPLICA_ID = -1
# A time after every record of the test: no offset reaches it.
FUTURE_MS = 4102444800000
KAFKA_PYTHON_TIMEOUT_MS = 10000
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


def list_offsets_as(node, broker, topic, timestamps, replica_id):
    """kafka-python's ListOffsets (the newest version both speak) of partition 0 from `broker`
    (reached through `node`) as `replica_id`: [(error code, offset, leader epoch)], one per
    timestamp of `timestamps`, each asked alone."""
    client = KafkaNetClient(bootstrap_servers=node.bootstrap, request_timeout_ms=KAFKA_PYTHON_TIMEOUT_MS)
    try:
        client.check_version(timeout_ms=KAFKA_PYTHON_TIMEOUT_MS)
        answers = []
        for timestamp in timestamps:
            partition = ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(
                partition_index=0, current_leader_epoch=-1, timestamp=timestamp)
            request = ListOffsetsRequest(
                replica_id=replica_id, isolation_level=0,
                topics=[ListOffsetsRequest.ListOffsetsTopic(name=topic, partitions=[partition])])
            response = client.send_and_receive(broker, request, timeout_ms=KAFKA_PYTHON_TIMEOUT_MS)
            (answer,) = response.topics[0].partitions
            answers.append((answer.error_code, answer.offset, answer.leader_epoch))
        return answers
    finally:
        client.close()


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


def test_a_follower_refuses_a_clients_reads_but_answers_a_debugging_list_offsets(millrace_cluster):
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

    # A debugging ListOffsets (replica id -2) is answered by every replica from its own log, as
    # the leader answers a consumer: latest (the log end), earliest, the first record at or
    # after time 0, none after every record; a consumer's (replica id -1) is still refused.
    timestamps = [LATEST, EARLIEST, 0, FUTURE_MS]
    node = cluster.node(leader)
    expected = list_offsets_as(node, leader, topic, timestamps, CONSUMER_REPLICA_ID)
    epoch = expected[0][2]
    assert expected == [(0, RECORDS, epoch), (0, 0, epoch), (0, 0, epoch), (0, -1, -1)], expected
    debugging = {b: list_offsets_as(node, b, topic, timestamps, DEBUGGING_REPLICA_ID)
                 for b in cluster.nodes}
    consumers = {b: list_offsets_as(node, b, topic, [LATEST], CONSUMER_REPLICA_ID)[0][0]
                 for b in followers}
    assert debugging == {b: expected for b in cluster.nodes}, (expected, debugging)
    assert consumers == {b: NOT_LEADER_OR_FOLLOWER for b in followers}, consumers


# ---------------------------------------------------------------- KIP-951: the refusal names the leader

FETCH_V16 = 16
PRODUCE_V10 = 10
FENCED_LEADER_EPOCH = 74
NO_LEADER = (-1, -1)
LEADER_MOVE_TIMEOUT_S = 60


def read_compact_nullable_string(reader):
    size = reader.uvarint() - 1
    return None if size < 0 else reader.take(size).decode()


def read_tagged(reader, readers):
    """The tagged fields of a section, those whose tag `readers` knows decoded by it."""
    found = {}
    for _ in range(reader.uvarint()):
        tag, size = reader.uvarint(), reader.uvarint()
        body = kafka_wire.Reader(reader.take(size))
        found[tag] = readers[tag](body) if tag in readers else body
    return found


def read_current_leader(reader):
    leader = (reader.int32(), reader.int32())
    reader.skip_tagged_fields()
    return leader


def read_node_endpoints(reader):
    nodes = {}
    for _ in range(reader.uvarint() - 1):
        node_id, host, port = reader.int32(), read_compact_nullable_string(reader), reader.int32()
        read_compact_nullable_string(reader)  # rack
        reader.skip_tagged_fields()
        nodes[node_id] = f"{host}:{port}"
    return nodes


def fetch_v16(node, topic_id, current_leader_epoch=-1):
    """A consumer's Fetch v16 of partition 0 at offset 0 from `node`: (error code, CurrentLeader
    (leader id, epoch) or None, {node id: "host:port"} of NodeEndpoints)."""
    uv = kafka_wire.uvarint
    body = struct.pack(">iiibii", 0, 1, 1 << 20, 0, 0, -1)  # no wait, sessionless
    partition = struct.pack(">iiqiqi", 0, current_leader_epoch, 0, -1, -1, 1 << 20) + uv(0)
    body += uv(2) + topic_id.bytes + uv(2) + partition + uv(0)
    body += uv(1) + uv(1) + uv(0)  # no forgotten topics, empty rack id, no tagged fields
    with kafka_wire.connect(node.bootstrap) as sock:
        reader = kafka_wire.call(sock, kafka_wire.API_FETCH, FETCH_V16, 1, body, flexible=True)
    reader.skip_tagged_fields()  # response header v1
    reader.int32(), reader.int16(), reader.int32()  # throttle, error, session id
    answer = None
    for _ in range(reader.uvarint() - 1):
        reader.take(16)  # topic id
        for _ in range(reader.uvarint() - 1):
            reader.int32()
            error = reader.int16()
            reader.int64(), reader.int64(), reader.int64()
            for _ in range(max(reader.uvarint() - 1, 0)):  # aborted transactions
                reader.int64(), reader.int64()
                reader.skip_tagged_fields()
            reader.int32()  # preferred read replica
            reader.take(max(reader.uvarint() - 1, 0))  # records
            tagged = read_tagged(reader, {1: read_current_leader})
            answer = (error, tagged.get(1))
        reader.skip_tagged_fields()
    endpoints = read_tagged(reader, {0: read_node_endpoints}).get(0, {})
    return (*answer, endpoints)


def produce_v10(node, topic):
    """One acks=1 record to partition 0 by Produce v10 from `node`: (error code, CurrentLeader or
    None, {node id: "host:port"} of NodeEndpoints)."""
    uv = kafka_wire.uvarint
    batch = kafka_wire.encode_record_batch([(None, b"to-a-follower")], int(time.time() * 1000))
    body = uv(0) + kafka_wire.int16(1) + kafka_wire.int32(5000)  # no transactional id, acks=1
    body += uv(2) + kafka_wire.compact_string(topic) + uv(2) + kafka_wire.int32(0)
    body += uv(len(batch) + 1) + batch + uv(0) + uv(0) + uv(0)
    with kafka_wire.connect(node.bootstrap) as sock:
        reader = kafka_wire.call(sock, kafka_wire.API_PRODUCE, PRODUCE_V10, 1, body, flexible=True)
    reader.skip_tagged_fields()
    answer = None
    for _ in range(reader.uvarint() - 1):
        read_compact_nullable_string(reader)
        for _ in range(reader.uvarint() - 1):
            reader.int32()
            error = reader.int16()
            reader.int64(), reader.int64(), reader.int64()
            for _ in range(reader.uvarint() - 1):  # record errors
                reader.int32()
                read_compact_nullable_string(reader)
                reader.skip_tagged_fields()
            read_compact_nullable_string(reader)  # error message
            answer = (error, read_tagged(reader, {0: read_current_leader}).get(0))
        reader.skip_tagged_fields()
    reader.int32()  # throttle
    endpoints = read_tagged(reader, {0: read_node_endpoints}).get(0, {})
    return (*answer, endpoints)


def wait_for_refusals_naming(cluster, brokers, leader, ask):
    """Polls `ask(node)` on each of `brokers` until every one refuses NOT_LEADER_OR_FOLLOWER
    naming `leader` with its endpoint; returns {broker: (epoch named, answer)}."""
    deadline = time.monotonic() + LEADER_MOVE_TIMEOUT_S
    while True:
        answers = {b: ask(cluster.node(b)) for b in brokers}
        named = {b: a for b, a in answers.items()
                 if a[0] == NOT_LEADER_OR_FOLLOWER and a[1] and a[1][0] == leader
                 and a[2].get(leader) == cluster.node(leader).bootstrap}
        if len(named) == len(brokers):
            return {b: (a[1][1], a) for b, a in named.items()}
        if time.monotonic() > deadline:
            raise AssertionError(f"refusals naming broker {leader}: {answers}")
        time.sleep(POLL_INTERVAL_S)


def test_after_a_leader_change_refusals_name_the_new_leader(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=FAST_SESSIONS)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-kip951")
    first = create_rf3_topic(cluster.bootstrap, topic).leader
    produce_acknowledged(cluster.bootstrap, topic)
    topic_id = topic_id_of(cluster.bootstrap, topic)
    others = [b for b in cluster.nodes if b != first]
    before = wait_for_refusals_naming(cluster, others, first, lambda n: fetch_v16(n, topic_id))
    first_epoch = before[others[0]][0]

    # A controlled shutdown moves the leadership; the old leader comes back as a follower.
    cluster.stop(first)
    survivors = ",".join(cluster.node(b).bootstrap for b in others)
    second = wait_for_leader(survivors, topic, other_than=first).leader
    cluster.restart(first)
    followers = [b for b in cluster.nodes if b != second]
    fetched = wait_for_refusals_naming(cluster, followers, second, lambda n: fetch_v16(n, topic_id))
    produced = wait_for_refusals_naming(cluster, followers, second, lambda n: produce_v10(n, topic))
    epochs = {b: epoch for answers in (fetched, produced) for b, (epoch, _) in answers.items()}
    assert all(epoch > first_epoch for epoch in epochs.values()), (first_epoch, fetched, produced)
    assert len(set(epochs.values())) == 1, (fetched, produced)

    # A stale epoch to the new leader is fenced, naming the leader and its current epoch.
    (second_epoch,) = set(epochs.values())
    error, leader, endpoints = fetch_v16(cluster.node(second), topic_id, first_epoch)
    assert (error, leader) == (FENCED_LEADER_EPOCH, (second, second_epoch)), (error, leader)
    assert endpoints == {second: cluster.node(second).bootstrap}
    # The leader answers (no CurrentLeader then).
    assert fetch_v16(cluster.node(second), topic_id)[:2] == (0, None)
