"""Issue 13: a follower that truncated inside its active segment, then leads, serves every record
below the cut. The batches of the cut log's partial last block were evicted from memory long
before (here: by the restart, which keeps only the old tail block's batches in memory); before the
fix they read as nothing until later appends passed the next 4 KiB boundary, so consumers of the
new leader stalled at the first of them."""

import time

from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient

from clients import consume_all, quiet_config, unique_topic
from jepsen.nemesis import pause, resume
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_replication_follower_truncation_across_segments import create_topic, wait_until_same_below
from test_replication_rf3_followers_hold_the_leaders_bytes import (
    ADMIN_TIMEOUT_S, FAILOVER_TIMEOUT_S, log_batches, produce_once_led, raw_produce,
    wait_for_identical_logs, wait_for_isr, wait_for_leader)

# One segment: the cut is inside the active segment.
SEGMENT_BYTES = 1 << 30
# Kafka's broker.heartbeat.interval.ms halved and a 6 s session (Kafka: 2 s, 9 s): the paused old
# leader is fenced, and its restart after kill -9 registers, sooner; still twice the ~3 s the
# followers are paused for (they must stay in the ISR to be elected).
SESSIONS = ("broker.heartbeat.interval.ms=1000", "broker.session.timeout.ms=6000")
ZOMBIE_BATCHES = 40
ZOMBIE_VALUES_PER_BATCH = 20
VALUE_BYTES = 60
COMMON = 100
NEW = 50
CONSUME_TIMEOUT_S = 30


def wait_until_leader_is(bootstrap, topic, broker, timeout_s=FAILOVER_TIMEOUT_S):
    admin = AdminClient(quiet_config(bootstrap))
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = admin.list_topics(topic=topic, timeout=5).topics[topic].partitions[0].leader
            if seen == broker:
                return
        except Exception as error:  # noqa: BLE001 (retried while the cluster moves)
            seen = error
        time.sleep(0.2)
    raise AssertionError(f"{topic}: leader {seen}, expected {broker} within {timeout_s}s")


def test_a_follower_cut_inside_its_active_segment_serves_all_below_the_cut_as_leader(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=SESSIONS)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-truncate-active")
    old = create_topic(cluster.bootstrap, topic, **{"segment.bytes": str(SEGMENT_BYTES)}).leader
    followers = [b for b in (1, 2, 3) if b != old]
    leader = cluster.node(old)
    error, _ = produce_once_led(leader, topic, 0, [b"common-%d" % i for i in range(COMMON)])
    assert error == 0
    wait_for_identical_logs(cluster, topic, [1, 2, 3], COMMON)
    for broker in followers:
        pause(cluster.node(broker))
    time.sleep(1.5)
    # acks=1 on the leader alone: a tail of many blocks the followers never get.
    value = b"z" * VALUE_BYTES
    for i in range(ZOMBIE_BATCHES):
        error, _ = raw_produce(leader, topic, 0, [b"zombie-%d-" % i + value] * ZOMBIE_VALUES_PER_BATCH,
                               acks=1)
        assert error == 0
    time.sleep(1)  # written: the restart below loads it
    pause(leader)
    for broker in followers:
        resume(cluster.node(broker))
    survivors = ",".join(cluster.node(b).bootstrap for b in followers)
    new = wait_for_leader(survivors, topic, other_than=old).leader
    error, base = produce_once_led(cluster.node(new), topic, 0, [b"new-%d" % i for i in range(NEW)])
    assert (error, base) == (0, COMMON)
    # The zombie crashes and restarts: only its old tail block's batches are in memory. As a
    # follower it cuts its log to 100, inside its only segment, and fetches the new records.
    cluster.kill(old)
    cluster.restart(old)
    end = COMMON + NEW
    wait_until_same_below(cluster, topic, [new, old], end)
    wait_for_identical_logs(cluster, topic, [new, old], end)
    assert all(b"zombie" not in raw for _, raw in log_batches(leader.data_dir, topic))
    assert len(list((leader.data_dir / f"{topic}-0").glob("*.log"))) == 1
    wait_for_isr(cluster.bootstrap, topic, 0, [1, 2, 3])
    # It leads again (its preferred replica), and serves its log from the start.
    admin = AdminClient(quiet_config(cluster.bootstrap))
    tp = TopicPartition(topic, 0)
    results = admin.elect_leaders(ElectionType.PREFERRED, [tp]).result(timeout=ADMIN_TIMEOUT_S)
    assert results[tp] is None, results
    wait_until_leader_is(cluster.bootstrap, topic, old)
    # Before: the consumer got empty fetches at offset 0 and read nothing.
    received = consume_all(cluster.bootstrap, topic, 1, timeout_s=CONSUME_TIMEOUT_S)[0]
    assert [offset for offset, _, _ in received] == list(range(end))
    values = [value for _, _, value in received]
    assert values == [b"common-%d" % i for i in range(COMMON)] + [b"new-%d" % i for i in range(NEW)]
