"""Issue 13: a follower's log edge cases below its active segment (small `segment.bytes`).
- A zombie leader whose tail diverges over several segments rejoins as a follower: it truncates
  across segments, as Kafka's `truncateTo` does (later segments and their index files deleted, the
  one holding the offset cut), and holds the leader's bytes.
- A follower whose log ends below its leader's log start (retention deleted the leader's early
  segments while it was down) starts its log empty at the leader's log start (Kafka's
  `truncateFullyAndStartAt`) and rejoins the ISR, instead of failing every fetch with
  OFFSET_OUT_OF_RANGE."""

import time

from confluent_kafka.admin import AdminClient, NewTopic

from clients import new_producer, produce_all, quiet_config, unique_topic
from cluster_fixture import FAST_SESSIONS, PAUSED_FOLLOWER_SESSIONS
from jepsen.nemesis import pause, resume
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_replication_rf3_followers_hold_the_leaders_bytes import (
    ADMIN_TIMEOUT_S, CONVERGE_TIMEOUT_S, log_batches, produce_once_led, raw_produce, wait_for_identical_logs,
    wait_for_isr, wait_for_leader)

SEGMENT_BYTES = 16384
ZOMBIE_BATCHES = 40
ZOMBIE_VALUES_PER_BATCH = 20
VALUE_BYTES = 60


def create_topic(bootstrap, topic, **config):
    admin = AdminClient(quiet_config(bootstrap))
    configs = {"min.insync.replicas": "2", "segment.bytes": str(SEGMENT_BYTES), **config}
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3,
                                            config=configs)],
                                  operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S)
    futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    return wait_for_leader(bootstrap, topic)


def wait_until_same_below(cluster, topic, brokers, end_offset, timeout_s=CONVERGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while True:
        logs = [[(o, raw) for o, raw in log_batches(cluster.node(b).data_dir, topic) if o < end_offset]
                for b in brokers]
        if all(log == logs[0] for log in logs) and logs[0]:
            return
        assert time.monotonic() < deadline, f"{topic}: brokers {brokers} differ below {end_offset}"
        time.sleep(0.2)


def segment_bases(node, topic):
    return sorted(int(path.stem) for path in (node.data_dir / f"{topic}-0").glob("*.log"))


def test_a_zombie_leader_diverged_over_several_segments_truncates_across_them(millrace_cluster):
    # Short sessions fence the paused leader, and let its restart after kill -9 register, sooner;
    # 7 s, not 4.5 s: both followers are paused for 3-4 s and must stay in the ISR.
    cluster = millrace_cluster(brokers=3, extra=PAUSED_FOLLOWER_SESSIONS)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-truncate-segments")
    old = create_topic(cluster.bootstrap, topic).leader
    followers = [b for b in (1, 2, 3) if b != old]
    leader = cluster.node(old)
    error, _ = produce_once_led(leader, topic, 0, [b"common-%d" % i for i in range(100)])
    assert error == 0
    wait_for_identical_logs(cluster, topic, [1, 2, 3], 100)
    for broker in followers:
        pause(cluster.node(broker))
    time.sleep(1.5)
    # acks=1 on the leader alone: a tail the followers never get, several segments long.
    value = b"z" * VALUE_BYTES
    for i in range(ZOMBIE_BATCHES):
        error, _ = raw_produce(leader, topic, 0, [b"zombie-%d-" % i + value] * ZOMBIE_VALUES_PER_BATCH,
                               acks=1)
        assert error == 0
    zombie_segments = segment_bases(leader, topic)
    assert len(zombie_segments) >= 3, zombie_segments
    pause(leader)
    for broker in followers:
        resume(cluster.node(broker))
    survivors = ",".join(cluster.node(b).bootstrap for b in followers)
    new = wait_for_leader(survivors, topic, other_than=old).leader
    error, base = produce_once_led(cluster.node(new), topic, 0, [b"new-%d" % i for i in range(50)])
    assert (error, base) == (0, 100)
    resume(leader)
    # Before: "cannot truncate to 100 ... before the active segment", retried forever. The old
    # leader's log reaches past 150 from the start: wait until it holds the new leader's bytes.
    wait_until_same_below(cluster, topic, [new, old], 150)
    batches = wait_for_identical_logs(cluster, topic, [new, *[b for b in (1, 2, 3) if b != new]], 150)
    assert all(b"zombie" not in raw for _, raw in batches)
    on_old = log_batches(leader.data_dir, topic)
    assert all(b"zombie" not in raw for _, raw in on_old)
    assert [o for o, _ in on_old] == sorted(o for o, _ in on_old)
    # The zombie's later segments are gone, with their index files.
    directory = leader.data_dir / f"{topic}-0"
    bases = segment_bases(leader, topic)
    for suffix in ("index", "timeindex"):
        stale = [p.name for p in directory.glob(f"*.{suffix}") if int(p.stem) not in bases]
        assert not stale, stale
    # A kill -9 and restart find the cut log whole.
    cluster.kill(old)
    cluster.restart(old)
    wait_for_identical_logs(cluster, topic, [1, 2, 3], 150)


def test_a_follower_below_the_leaders_log_start_starts_over_there(millrace_cluster):
    # FAST_SESSIONS: the killed follower's restart registers once its old session timed out.
    cluster = millrace_cluster(brokers=3, extra=["log.retention.check.interval.ms=500", *FAST_SESSIONS])
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("rf3-below-log-start")
    leader = create_topic(cluster.bootstrap, topic,
                          **{"retention.bytes": str(2 * SEGMENT_BYTES)}).leader
    lagging = next(b for b in (1, 2, 3) if b != leader)
    others = [b for b in (1, 2, 3) if b != lagging]
    producer = new_producer(cluster.bootstrap, acks="all", **{"linger.ms": 5})
    delivered = produce_all(producer, topic, [(None, b"early-%d" % i) for i in range(100)], partition=0)
    assert not delivered.errors
    wait_for_identical_logs(cluster, topic, [1, 2, 3], 100)
    cluster.kill(lagging)
    survivors = ",".join(cluster.node(b).bootstrap for b in others)
    wait_for_isr(survivors, topic, 0, others)
    # Many segments' worth while it is down: retention moves the leader's log start past its end.
    producer = new_producer(survivors, acks="all", **{"linger.ms": 5, "batch.size": 2048})
    delivered = produce_all(producer, topic, [(None, b"late-%d-" % i + b"x" * 200) for i in range(1500)],
                            partition=0)
    assert not delivered.errors
    deadline = time.monotonic() + 30
    while segment_bases(cluster.node(leader), topic)[0] <= 100:
        assert time.monotonic() < deadline, segment_bases(cluster.node(leader), topic)
        time.sleep(0.2)
    cluster.restart(lagging)
    # Before: OFFSET_OUT_OF_RANGE on every fetch; it never caught up nor rejoined the ISR.
    wait_for_isr(cluster.bootstrap, topic, 0, [1, 2, 3])
    # Its log was 0..100; it now starts where the leader's did, past that.
    lagging_bases = segment_bases(cluster.node(lagging), topic)
    assert lagging_bases[0] > 100, lagging_bases
    # Byte for byte where both hold records (the leader's retention may have moved on since).
    wait_for_identical_tails(cluster, topic, leader, lagging)


def wait_for_identical_tails(cluster, topic, leader, follower):
    deadline = time.monotonic() + 30
    while True:
        led = dict(log_batches(cluster.node(leader).data_dir, topic))
        followed = dict(log_batches(cluster.node(follower).data_dir, topic))
        common = sorted(set(led) & set(followed))
        if common and max(led) == max(followed):
            break
        assert time.monotonic() < deadline, (min(led), max(led), sorted(followed)[:3])
        time.sleep(0.2)
    assert [led[o] for o in common] == [followed[o] for o in common]
