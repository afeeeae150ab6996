"""Issue 13: ElectLeaders (key 43) sent by an operator's client to any broker reaches the active
controller, as with Kafka's `kafka-leader-election.sh` / AdminClient.electLeaders. Preferred
elections where the preferred replica already leads answer ELECTION_NOT_NEEDED (and asked for
every partition, the answer leaves them out); unknown partitions UNKNOWN_TOPIC_OR_PARTITION. A
partition whose only replica crashed is offline after that broker restarts (it left the ISR and
ELR on its unclean shutdown, KIP-966); an unclean election brings it back with that replica as
leader, and Metadata shows it at once."""

import time

import pytest
from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clients import quiet_config, unique_topic

BROKERS = 3
ADMIN_TIMEOUT_S = 30
CLUSTER_UP_TIMEOUT_S = 60
# The controller fences a broker whose heartbeats stop after its session timeout (9 s).
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


def test_unclean_election_brings_back_a_partition_whose_only_replica_crashed(millrace_cluster):
    cluster = millrace_cluster(brokers=BROKERS)
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    wait_for("3 brokers", lambda: brokers_listed(admin, BROKERS), CLUSTER_UP_TIMEOUT_S)
    topic = unique_topic("unclean")
    create(admin, topic, 3, 1)
    led_by_3 = [p for p, meta in partitions_of(admin, topic).items() if meta.leader == 3]
    assert led_by_3, partitions_of(admin, topic)
    partition = led_by_3[0]

    cluster.kill(3)
    wait_for("the partition offline",
             lambda: partitions_of(admin, topic)[partition].leader == -1, FENCE_TIMEOUT_S)
    cluster.node(3).launch().wait_ready()
    wait_for("3 brokers again", lambda: brokers_listed(admin, BROKERS), CLUSTER_UP_TIMEOUT_S)
    time.sleep(2)  # a few controller ticks: nothing elects it on its own
    assert partitions_of(admin, topic)[partition].leader == -1, "no clean election possible"

    tp = TopicPartition(topic, partition)
    results = elect(admin, ElectionType.PREFERRED, [tp])
    assert error_code(results[tp]) is not None, "a preferred election cannot pick it"
    results = elect(admin, ElectionType.UNCLEAN, [tp])
    assert error_code(results[tp]) is None, results
    meta = partitions_of(admin, topic)[partition]
    assert (meta.leader, meta.isrs) == (3, [3]), (meta.leader, meta.isrs)
