"""Issue 13: the ISR grows back. A follower killed -9 leaves the ISR (the controller fences it
after its session); restarted, it fetches again, catches up, and its leader asks the controller to
add it back (AlterPartition, key 56, with the partition epoch). Kafka does the same: without it, a
topic at replication factor 3 with min.insync.replicas=2 would refuse acks=all writes for good
after two follower restarts, one after the other, though every broker is up."""

import time

from confluent_kafka.admin import AdminClient

from clients import new_producer, produce_all, quiet_config, unique_topic
from cluster_fixture import FAST_SESSIONS
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_replication_rf3_followers_hold_the_leaders_bytes import (
    create_rf3_topic, wait_for_identical_logs, wait_for_isr)

RECORDS_PER_ROUND = 200


def produce_round(bootstrap, topic, round_index):
    producer = new_producer(bootstrap, acks="all", **{"enable.idempotence": True, "linger.ms": 5})
    delivered = produce_all(producer, topic,
                            [(None, b"round-%d-%d" % (round_index, i)) for i in range(RECORDS_PER_ROUND)],
                            partition=0)
    assert not delivered.errors, delivered.errors[:3]


def isr_of(bootstrap, topic):
    admin = AdminClient(quiet_config(bootstrap))
    return sorted(admin.list_topics(topic=topic, timeout=10).topics[topic].partitions[0].isrs)


def test_followers_killed_one_after_the_other_rejoin_the_isr(millrace_cluster):
    # Each restart registers once the killed incarnation's session timed out.
    cluster = millrace_cluster(brokers=3, extra=FAST_SESSIONS)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-isr-rejoin")
    leader = create_rf3_topic(cluster.bootstrap, topic).leader
    followers = [b for b in (1, 2, 3) if b != leader]
    produce_round(cluster.bootstrap, topic, 0)
    for round_index, follower in enumerate(followers, start=1):
        others = [b for b in (1, 2, 3) if b != follower]
        survivors = ",".join(cluster.node(b).bootstrap for b in others)
        cluster.kill(follower)
        wait_for_isr(survivors, topic, 0, others)
        # Two in-sync replicas left: acks=all still works with min.insync.replicas=2.
        produce_round(survivors, topic, round_index)
        cluster.restart(follower)
        # Back in the ISR once it has caught up: only the leader's AlterPartition does that.
        wait_for_isr(cluster.bootstrap, topic, 0, [1, 2, 3])
    # The second kill found the first follower back in the ISR, or this round would get
    # NOT_ENOUGH_REPLICAS; and every replica holds the same bytes.
    produce_round(cluster.bootstrap, topic, len(followers) + 1)
    end_offset = RECORDS_PER_ROUND * (len(followers) + 2)
    wait_for_identical_logs(cluster, topic, [1, 2, 3], end_offset)
    assert isr_of(cluster.bootstrap, topic) == [1, 2, 3]
