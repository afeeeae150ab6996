"""Issue 13: consumers read up to the high watermark, and a long poll wakes when it moves.

In a 3-broker cluster (RF=3, min.insync.replicas=2) a consumer's Fetch parks at the leader for up
to `fetch.wait.max.ms`. A record appended there is not readable yet: it becomes readable when the
followers' next fetches move the high watermark past it. The parked Fetch must return then, not
when its wait runs out: each acks=all record must reach the consumer far sooner than the 10 s
wait asked for (a broker that woke parked reads only on appends would deliver each record about
10 s late)."""

import time

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from clients import new_producer, quiet_config, unique_topic
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_replication_rf3_followers_hold_the_leaders_bytes import create_rf3_topic

FETCH_WAIT_MAX_MS = 10_000
RECORDS = 5
# Far below the 10 s wait; generous for a loaded machine.
DELIVERED_WITHIN_S = 4.0
ASSIGNED_SETTLE_S = 3.0


def test_a_parked_fetch_returns_when_the_high_watermark_passes_new_records(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("hw-wakes")
    create_rf3_topic(cluster.bootstrap, topic)
    consumer = Consumer({**quiet_config(cluster.bootstrap), "group.id": unique_topic("g"),
                         "enable.auto.commit": False, "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
                         "fetch.min.bytes": 1})
    producer = new_producer(cluster.bootstrap, **{"acks": "all", "linger.ms": 0})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
        # Until the consumer has its position and a Fetch parked at the leader.
        settle_until = time.monotonic() + ASSIGNED_SETTLE_S
        while time.monotonic() < settle_until:
            assert consumer.poll(0.2) is None
        took = []
        for i in range(RECORDS):
            value = f"record-{i}".encode()
            producer.produce(topic, value, partition=0)
            assert producer.flush(30) == 0, "the acks=all record was not acknowledged"
            acked_at = time.monotonic()
            while True:
                message = consumer.poll(0.05)
                waited_s = time.monotonic() - acked_at
                assert waited_s < FETCH_WAIT_MAX_MS / 1000, (i, took, "waited out the long poll")
                if message is not None and message.error() is None:
                    assert message.value() == value, (i, message.value())
                    took.append(round(waited_s, 3))
                    break
        print(f"from each acknowledgement to its delivery, s: {took}")
        assert max(took) < DELIVERED_WITHIN_S, took
    finally:
        consumer.close()
