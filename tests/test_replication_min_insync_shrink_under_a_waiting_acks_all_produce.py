"""Issue 13: min.insync.replicas when the ISR shrinks under an acks=all produce that is waiting.

Three `millrace serve` nodes, all controller voters; a topic assigned by hand to [leader, follower]
(replication factor 2, min.insync.replicas=2), the follower chosen off the Raft leader so that
stopping it leaves the quorum its majority. The follower is paused (SIGSTOP): its connections stay
open, so the controller fences it after broker.session.timeout.ms (5 s here, heartbeats every 1 s:
Kafka's defaults are 9 s and 2 s) and takes it out of the ISR, below min.insync.replicas (the
leader's own shrink, after replica.lag.time.max.ms, would come later at its 30 s default).

What a client sees, as with Apache Kafka 4.x (the same steps against Apache Kafka 4.4.0, with
replica.lag.time.max.ms=2000, gave the same answers):
- an acks=all produce sent while the ISR was still [leader, follower] is appended on the leader
  and waits for the follower. The shrink does not answer it: the high watermark does not advance
  while the ISR is below min.insync.replicas (KIP-966, Partition.maybeIncrementLeaderHW), so it
  never reaches the offset where Kafka's checkEnoughReplicasReachOffset would answer
  NOT_ENOUGH_REPLICAS_AFTER_APPEND (20); it is answered REQUEST_TIMED_OUT (7) at its timeout, with
  the base offset its batch was appended at (Kafka's DelayedProduce only sets the error on the
  append's answer; Apache Kafka 4.4.0 answered 5 here, millrace -1 before issue 13's fix).
  NOT_ENOUGH_REPLICAS_AFTER_APPEND is what Kafka answered before that guard (its high watermark
  then moved to the leader's log end once the ISR was the leader alone); in millrace, as in Kafka
  4.x, it needs the high watermark past the record before the shrink, and stays unit-tested
  (src/partition/replica/leader.rs);
- an acks=all produce sent after the shrink is refused before the append: kafka-python (retries=0)
  raises NotEnoughReplicasError (19), and the record is never readable;
- the follower resumed rejoins the ISR, acks=all works again, and a consumer reads every
  acknowledged record once, in order, at its acknowledged offset. The timed-out record was
  appended on the leader and may become readable once the ISR holds it: nothing is asserted of
  it."""

import threading
import time

import kafka.errors
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaProducer

from clients import consume_all, quiet_config, unique_topic
from jepsen.nemesis import pause, resume
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers
from test_replication_rf3_followers_hold_the_leaders_bytes import (
    ADMIN_TIMEOUT_S, raw_produce, wait_for_isr, wait_for_leader)

SESSION_TIMEOUT_MS = 5000
HEARTBEAT_INTERVAL_MS = 1000
# Longer than the fence of a silent broker (its session, then the controller's next tick), so the
# ISR shrinks while the produce waits; shorter than pytest's budget for the whole test.
WAITING_PRODUCE_TIMEOUT_MS = 12000
# The shrink must be seen this long before the waiting produce's timeout.
SHRINK_MARGIN_S = 2
SEND_TIMEOUT_S = 15
RETRIES_AFTER_REJOIN = 10


def kafka_python_producer(bootstrap):
    """acks=all and no retries: an error code surfaces as its kafka.errors class."""
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0, enable_idempotence=False,
                         linger_ms=0, request_timeout_ms=WAITING_PRODUCE_TIMEOUT_MS + 10000)


def send(producer, topic, value):
    return producer.send(topic, value=value, partition=0).get(timeout=SEND_TIMEOUT_S)


def test_an_isr_shrink_below_min_insync_times_out_the_waiting_produce_and_refuses_the_next(
        millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=[f"broker.session.timeout.ms={SESSION_TIMEOUT_MS}",
                                                 f"broker.heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}"])
    wait_for_brokers(cluster.bootstrap, 3)
    raft_leader = describe_quorum_v0(cluster.node(1).bootstrap)[1]
    follower = next(b for b in (1, 2, 3) if b != raft_leader)
    leader = next(b for b in (1, 2, 3) if b != follower)
    others = ",".join(cluster.node(b).bootstrap for b in (1, 2, 3) if b != follower)
    topic = unique_topic("min-isr-shrink")
    admin = AdminClient(quiet_config(cluster.bootstrap))
    admin.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[leader, follower]],
                                  config={"min.insync.replicas": "2"})],
                        operation_timeout=ADMIN_TIMEOUT_S)[topic].result(timeout=ADMIN_TIMEOUT_S)
    assert wait_for_leader(cluster.bootstrap, topic).leader == leader
    wait_for_isr(cluster.bootstrap, topic, 0, [leader, follower])

    producer = kafka_python_producer(others)
    try:
        acknowledged = []
        for i in range(5):
            value = b"before-%d" % i
            acknowledged.append((send(producer, topic, value).offset, value))

        pause(cluster.node(follower))
        try:
            waiting = {}

            # One Produce on the wire (Produce v3 timeout_ms, a socket timeout 30 s longer): the
            # error code is the broker's. kafka-python sends its request_timeout_ms as timeout_ms
            # and gives up on the request at that same moment, so its own timeout could not be
            # told from the broker's REQUEST_TIMED_OUT.
            def produce_while_the_isr_shrinks():
                started = time.monotonic()
                waiting["answer"] = raw_produce(cluster.node(leader), topic, 0, [b"waiting"],
                                                timeout_ms=WAITING_PRODUCE_TIMEOUT_MS)
                waiting["elapsed_s"] = time.monotonic() - started
                waiting["answered_at"] = time.monotonic()

            thread = threading.Thread(target=produce_while_the_isr_shrinks, daemon=True)
            sent_at = time.monotonic()
            thread.start()
            wait_for_isr(others, topic, 0, [leader])
            shrunk_after_s = time.monotonic() - sent_at
            assert "answer" not in waiting, (
                f"the waiting produce was answered {waiting} before the ISR shrank "
                f"({shrunk_after_s:.1f} s after it was sent)")
            assert shrunk_after_s < WAITING_PRODUCE_TIMEOUT_MS / 1000 - SHRINK_MARGIN_S, shrunk_after_s

            # Sent after the shrink: refused before the append.
            with pytest.raises(kafka.errors.NotEnoughReplicasError):
                send(producer, topic, b"refused")

            thread.join(WAITING_PRODUCE_TIMEOUT_MS / 1000 + 40)
            assert not thread.is_alive(), "the waiting produce got no answer"
            error, base_offset = waiting["answer"]
            # Apache Kafka 4.x: the high watermark stays below min ISR, so the shrink does not
            # complete the waiting produce (no NOT_ENOUGH_REPLICAS_AFTER_APPEND); it times out.
            assert kafka.errors.for_code(error) is kafka.errors.RequestTimedOutError, (
                error, kafka.errors.for_code(error), waiting)
            # The batch was appended; only the wait timed out. Kafka's DelayedProduce answers
            # with the append's base offset (Apache Kafka 4.4.0 answered 5 here), not -1.
            assert base_offset == acknowledged[-1][0] + 1, (base_offset, acknowledged, waiting)
            assert waiting["elapsed_s"] >= WAITING_PRODUCE_TIMEOUT_MS / 1000 - 0.5, waiting
            assert waiting["answered_at"] > sent_at + shrunk_after_s
        finally:
            resume(cluster.node(follower))

        # Asked of the leader: the resumed follower answers Metadata from its image of before the
        # pause (ISR [leader, follower]) until it catches up on the metadata log.
        wait_for_isr(cluster.node(leader).bootstrap, topic, 0, [leader, follower])
        # With retries, as clients send by default: the leader may apply the grown ISR a moment
        # after Metadata lists it, and NOT_ENOUGH_REPLICAS is retriable.
        retrying = KafkaProducer(bootstrap_servers=others, acks="all", retries=RETRIES_AFTER_REJOIN,
                                 retry_backoff_ms=200, enable_idempotence=False, linger_ms=0)
        try:
            for i in range(5):
                value = b"after-%d" % i
                acknowledged.append((send(retrying, topic, value).offset, value))
        finally:
            retrying.close()
    finally:
        producer.close()

    received = [(offset, value) for offset, _, value in consume_all(cluster.bootstrap, topic, 1)[0]]
    acknowledged_values = {value for _, value in acknowledged}
    assert [r for r in received if r[1] in acknowledged_values] == acknowledged, received
    assert b"refused" not in [value for _, value in received], received
