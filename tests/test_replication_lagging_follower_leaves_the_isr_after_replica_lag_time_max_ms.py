"""Issue 13: `replica.lag.time.max.ms` is a broker key, with Kafka's name, meaning and default.

Kafka (Partition.maybeShrinkIsr, Replica.isCaughtUp): the leader takes a follower out of the ISR
when the follower has not caught up to the leader's log end offset for longer than
replica.lag.time.max.ms (default 30000 ms); a follower that has everything the leader has stays.
That shrink is the leader's, through AlterPartition, and comes long before the controller fences
a broker that stopped heartbeating (broker.session.timeout.ms) when the lag is the shorter.

Three `millrace serve` nodes (all controller voters, num.shards=1) with
replica.lag.time.max.ms=3000 and broker.session.timeout.ms=30000, so a shrink within a few seconds
can only be the lag's. A topic of replication factor 3 assigned by hand; its follower chosen off
the Raft leader (the quorum keeps its majority) and off the partition leader. The follower is
paused (SIGSTOP: its connections stay open, so nothing closes to hasten a fence) while an acks=1
producer keeps writing; the test asserts:
- the follower leaves the ISR after about the lag (not before 2 s, within 10 s of the pause),
  while Metadata still lists it as a live broker (not fenced, which would take 30 s);
- resumed (SIGCONT), it catches up and rejoins the ISR.
Before the key existed every node refused to start (unknown config key
"replica.lag.time.max.ms"); without the line, the paused follower was still in the ISR 10 s after
the pause (the fixed 30 s lag, and the 30 s fence).

A second test: a value below replica.fetch.wait.max.ms (500 ms, the followers' long poll) is
refused at start, naming the key, as Kafka refuses it."""

import subprocess
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from clients import new_producer, quiet_config, unique_topic
from conftest import BROKER_BINARY
from jepsen.nemesis import pause, resume
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers
from test_replication_rf3_followers_hold_the_leaders_bytes import (
    ADMIN_TIMEOUT_S, wait_for_isr, wait_for_leader)

LAG_MS = 3000
SESSION_TIMEOUT_MS = 30000
# The follower's last fetch may come up to one long poll (500 ms) before the pause, and the
# leader checks its followers every second: the shrink comes no sooner than this after the pause.
SHRINK_NOT_BEFORE_S = LAG_MS / 1000 - 1
# The lag, a leader tick, the controller's commit, the metadata reaching the brokers, and a
# Metadata poll that may have gone to the paused broker: well before the 30 s fence.
SHRINK_WITHIN_S = LAG_MS / 1000 + 7
REJOIN_WITHIN_S = 20
PRODUCE_EVERY_S = 0.1
METADATA_TIMEOUT_S = 2


def isr_and_live_brokers(admin, topic):
    """(ISR of partition 0, ids of the brokers Metadata lists as live), or None when this poll
    failed (it may have gone to the paused broker)."""
    try:
        metadata = admin.list_topics(topic=topic, timeout=METADATA_TIMEOUT_S)
    except KafkaException:
        return None
    partition = metadata.topics[topic].partitions.get(0)
    if partition is None:
        return None
    return sorted(partition.isrs), sorted(metadata.brokers)


def produce_until_the_isr_is(producer, admin, topic, isr, timeout_s):
    """Writes a record every PRODUCE_EVERY_S (the leader's log end moves, so a stopped follower
    falls behind it) until Metadata shows `isr`; returns (seconds taken, live brokers then)."""
    started = time.monotonic()
    seen = None
    sent = 0
    while time.monotonic() - started < timeout_s:
        producer.produce(topic, value=b"lagging-%d" % sent, partition=0)
        producer.poll(0)
        sent += 1
        seen = isr_and_live_brokers(admin, topic)
        if seen is not None and seen[0] == sorted(isr):
            return time.monotonic() - started, seen[1]
        time.sleep(PRODUCE_EVERY_S)
    raise AssertionError(f"{topic}[0]: ISR not {isr} within {timeout_s}s; last seen {seen}")


def test_a_paused_follower_leaves_the_isr_after_the_lag_time_and_rejoins(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=[f"replica.lag.time.max.ms={LAG_MS}",
                                                 f"broker.session.timeout.ms={SESSION_TIMEOUT_MS}"])
    wait_for_brokers(cluster.bootstrap, 3)
    raft_leader = describe_quorum_v0(cluster.node(1).bootstrap)[1]
    follower = next(b for b in (1, 2, 3) if b != raft_leader)
    leader = next(b for b in (1, 2, 3) if b != follower)
    third = next(b for b in (1, 2, 3) if b not in (leader, follower))
    others = ",".join(cluster.node(b).bootstrap for b in (leader, third))
    topic = unique_topic("replica-lag")
    admin = AdminClient(quiet_config(cluster.bootstrap))
    admin.create_topics([NewTopic(topic, num_partitions=1,
                                  replica_assignment=[[leader, follower, third]])],
                        operation_timeout=ADMIN_TIMEOUT_S)[topic].result(timeout=ADMIN_TIMEOUT_S)
    assert wait_for_leader(cluster.bootstrap, topic).leader == leader
    wait_for_isr(cluster.bootstrap, topic, 0, [leader, follower, third])

    producer = new_producer(others, acks="1", **{"linger.ms": 0})
    leaders_admin = AdminClient(quiet_config(cluster.node(leader).bootstrap))
    try:
        pause(cluster.node(follower))
        try:
            shrunk_s, live = produce_until_the_isr_is(producer, leaders_admin, topic,
                                                      [leader, third], SHRINK_WITHIN_S)
            assert shrunk_s >= SHRINK_NOT_BEFORE_S, (
                f"the follower left the ISR {shrunk_s:.1f} s after the pause, sooner than "
                f"replica.lag.time.max.ms ({LAG_MS} ms) allows")
            # Still a live broker: the shrink was the leader's (the lag), not the fence.
            assert follower in live, (follower, live)
            print(f"follower {follower} left the ISR {shrunk_s:.1f} s after the pause "
                  f"(replica.lag.time.max.ms={LAG_MS}, session timeout {SESSION_TIMEOUT_MS} ms)")
        finally:
            resume(cluster.node(follower))
        # Asked of the leader: the resumed follower answers Metadata from its image of before
        # the pause until it catches up on the metadata log.
        rejoined_s, _ = produce_until_the_isr_is(producer, leaders_admin, topic,
                                                 [leader, follower, third], REJOIN_WITHIN_S)
        print(f"follower {follower} rejoined the ISR {rejoined_s:.1f} s after the resume")
        assert producer.flush(ADMIN_TIMEOUT_S) == 0
    finally:
        producer.flush(0)


def test_a_lag_time_below_the_followers_long_poll_is_refused_naming_the_key(tmp_path):
    started = subprocess.run(
        [str(BROKER_BINARY), "serve", "--override", "replica.lag.time.max.ms=100",
         "--override", f"log.dirs={tmp_path / 'data'}", "--override", "http.listener="],
        capture_output=True, text=True, timeout=30)
    assert started.returncode != 0, started
    assert "replica.lag.time.max.ms" in started.stderr, started.stderr
    assert "replica.fetch.wait.max.ms" in started.stderr, started.stderr
