"""Issue 13: ElectLeaders (key 43) sent by an operator's client to any broker reaches the active
controller, as with Kafka's `kafka-leader-election.sh` / AdminClient.electLeaders. Preferred
elections where the preferred replica already leads answer ELECTION_NOT_NEEDED (and asked for
every partition, the answer leaves them out); unknown partitions UNKNOWN_TOPIC_OR_PARTITION.

A partition whose only replica crashed is offline until that broker returns, and then leads again
on its own: a millrace replica reports only fsynced offsets, so a crash keeps it eligible (ISR or
ELR; Kafka's KIP-966 drops it from both because a Kafka broker may lose unflushed acknowledged
records). A partition whose in-sync replicas are all gone while an out-of-sync one is back stays
offline until an unclean election makes that replica leader, and Metadata shows it at once."""

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, ElectionType, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clients import new_consumer, produce_all, quiet_config, unique_topic
from cluster_fixture import FAST_SESSIONS

BROKERS = 3
ADMIN_TIMEOUT_S = 30
CLUSTER_UP_TIMEOUT_S = 60
# The controller fences a broker whose heartbeats stop after its session timeout (4.5 s with
# FAST_SESSIONS, which the kill -9 tests use: a killed broker's restart registers once the old
# incarnation's session timed out).
FENCE_TIMEOUT_S = 40
ELECTION_NOT_NEEDED = 84


def wait_for(what, condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def brokers_listed(admin, count):
    try:
        return len(admin.list_topics(timeout=ADMIN_TIMEOUT_S).brokers) == count
    except Exception:  # noqa: BLE001 (retried: the cluster is still forming)
        return False


def partitions_of(admin, topic):
    return admin.list_topics(topic, timeout=ADMIN_TIMEOUT_S).topics[topic].partitions


def create(admin, topic, partitions, replication_factor):
    futures = admin.create_topics([NewTopic(topic, partitions, replication_factor)])
    futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    wait_for(f"{topic} listed", lambda: topic in admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics,
             ADMIN_TIMEOUT_S)


def elect(admin, election, partitions):
    # No timeout keywords: confluent-kafka 2.16's elect_leaders fails on them (SystemError).
    return admin.elect_leaders(election, partitions).result(timeout=ADMIN_TIMEOUT_S)


def produce(cluster, node, topic, values, partition=0):
    producer = Producer({**quiet_config(cluster.node(node).bootstrap), "acks": "all"})
    log = produce_all(producer, topic, [(None, v) for v in values], partition=partition)
    assert not log.errors, log.errors


def values_read(cluster, node, topic, partition):
    """The partition's records from offset 0 to its end, through broker `node`."""
    consumer = new_consumer(cluster.node(node).bootstrap)
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        values, deadline = [], time.monotonic() + ADMIN_TIMEOUT_S
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                if msg.error() is None:
                    values.append(msg.value())
                elif msg.error().code() == KafkaError._PARTITION_EOF:
                    return values
        pytest.fail(f"no end of partition {partition} after {ADMIN_TIMEOUT_S}s: {len(values)} read")
    finally:
        consumer.close()


def error_code(result):
    return None if result is None else result.code()


def test_preferred_election_where_not_needed_and_unknown_partitions(millrace_cluster):
    cluster = millrace_cluster(brokers=BROKERS)
    admin = AdminClient(quiet_config(cluster.node(2).bootstrap))
    wait_for("3 brokers", lambda: brokers_listed(admin, BROKERS), CLUSTER_UP_TIMEOUT_S)
    topic = unique_topic("elect")
    create(admin, topic, 3, 3)
    asked = [TopicPartition(topic, p) for p in range(3)] + [TopicPartition("no-such-topic", 0)]
    results = elect(admin, ElectionType.PREFERRED, asked)
    codes = {(tp.topic, tp.partition): error_code(r) for tp, r in results.items()}
    assert codes == {
        (topic, 0): ELECTION_NOT_NEEDED,
        (topic, 1): ELECTION_NOT_NEEDED,
        (topic, 2): ELECTION_NOT_NEEDED,
        ("no-such-topic", 0): 3,
    }, codes
    # Every partition: those that need no election are left out.
    assert elect(admin, ElectionType.PREFERRED, None) == {}


def test_a_partition_whose_only_replica_crashed_leads_again_when_it_returns(millrace_cluster):
    cluster = millrace_cluster(brokers=BROKERS, extra=FAST_SESSIONS)
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    wait_for("3 brokers", lambda: brokers_listed(admin, BROKERS), CLUSTER_UP_TIMEOUT_S)
    topic = unique_topic("crashed")
    create(admin, topic, 3, 1)
    led_by_3 = [p for p, meta in partitions_of(admin, topic).items() if meta.leader == 3]
    assert led_by_3, partitions_of(admin, topic)
    partition = led_by_3[0]

    cluster.kill(3)
    wait_for("the partition offline",
             lambda: partitions_of(admin, topic)[partition].leader == -1, FENCE_TIMEOUT_S)
    cluster.node(3).launch().wait_ready()
    wait_for("broker 3 leading its partition again",
             lambda: partitions_of(admin, topic)[partition].leader == 3, FENCE_TIMEOUT_S)
    assert partitions_of(admin, topic)[partition].isrs == [3]


def test_unclean_election_brings_back_a_partition_whose_in_sync_replicas_are_gone(
        millrace_cluster):
    # 4 brokers, 3 of them controller voters: a partition with a replica on the broker-only node 4
    # can lose both replicas while the controller quorum keeps its majority.
    cluster = millrace_cluster(brokers=BROKERS + 1, extra=FAST_SESSIONS)
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    wait_for("4 brokers", lambda: brokers_listed(admin, BROKERS + 1), CLUSTER_UP_TIMEOUT_S)
    topic = unique_topic("unclean")
    futures = admin.create_topics([NewTopic(topic, 4, 2, config={"min.insync.replicas": "1"})])
    futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    partition, meta = wait_for("a partition on broker 4 with 2 in sync replicas",
                               lambda: in_sync_pair_on(admin, topic, 4), ADMIN_TIMEOUT_S)
    leader = meta.leader
    (follower,) = [r for r in meta.replicas if r != leader]
    bystander = min(b for b in range(1, BROKERS + 1) if b not in meta.replicas)
    # The bystander is a voter with no replica of it and stays up: every client talks to it.
    admin = AdminClient(quiet_config(cluster.node(bystander).bootstrap))
    produce(cluster, bystander, topic, [b"on-both-%d" % i for i in range(10)], partition)

    cluster.kill(follower)
    wait_for("the ISR without the crashed follower",
             lambda: partitions_of(admin, topic)[partition].isrs == [leader], FENCE_TIMEOUT_S)
    produce(cluster, bystander, topic, [b"only-on-leader-%d" % i for i in range(10)], partition)
    cluster.kill(leader)
    wait_for("the partition offline",
             lambda: partitions_of(admin, topic)[partition].leader == -1, FENCE_TIMEOUT_S)
    cluster.node(follower).launch().wait_ready()
    wait_for("the follower back", lambda: brokers_listed(admin, BROKERS), CLUSTER_UP_TIMEOUT_S)
    time.sleep(2)  # a few controller ticks: it was out of sync, nothing elects it cleanly
    assert partitions_of(admin, topic)[partition].leader == -1, "no clean election possible"

    tp = TopicPartition(topic, partition)
    results = elect(admin, ElectionType.PREFERRED, [tp])
    assert error_code(results[tp]) is not None, "a preferred election cannot pick it"
    results = elect(admin, ElectionType.UNCLEAN, [tp])
    assert error_code(results[tp]) is None, results
    meta = partitions_of(admin, topic)[partition]
    assert (meta.leader, meta.isrs) == (follower, [follower]), (meta.leader, meta.isrs)
    # The unclean leader serves what it had: the records written while it was in sync.
    assert values_read(cluster, bystander, topic, partition) == [b"on-both-%d" % i for i in range(10)]


def in_sync_pair_on(admin, topic, broker):
    for partition, meta in partitions_of(admin, topic).items():
        if broker in meta.replicas and meta.leader >= 0 and len(meta.isrs) == 2:
            return partition, meta
    return None
