"""Issue 14 §1: recently written data stays in memory by demand, so a consumer that lags reads
it from memory; followers keep little of theirs.

- One broker with its defaults (one shard): a partition written with 40 MB keeps far more than
  the old fixed 8 MiB per partition in memory (`millrace_recent_batches_bytes`), within the
  shard's room the broker logged at start; a consumer from the start reads every record in order.
- Three nodes, a partition with three replicas: the leader keeps what it was written, each
  follower at most `FOLLOWER_RECENT_BYTES_MAX` (8 MiB, plus the partial block it rewrites), since
  a follower serves no consumer until it leads; every record reads back.
"""

import re
import time

from clients import consume_all, create_topic, new_producer, produce_all, unique_topic
from conftest import free_port
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_metrics_endpoint_counts_produce_consume_and_lag import scrape, total
from test_replication_rf3_followers_hold_the_leaders_bytes import create_rf3_topic

RECORDS = 40_000
VALUE_BYTES = 1000
WRITTEN_BYTES_MIN = RECORDS * VALUE_BYTES
# The old fixed per-partition bound, and a follower's cap now (src/partition/replication.rs).
OLD_PARTITION_BOUND_BYTES = 8 << 20
FOLLOWER_RECENT_BYTES_MAX = 8 << 20
# A follower keeps the batches over its partial last block besides its cap, and a batch may
# straddle the cap: one librdkafka batch (1 MB) at most.
FOLLOWER_SLACK_BYTES = 1 << 20
ROOM_LOG_LINE = re.compile(r"log\.recent\.bytes\.per\.shard\.max = (\d+) MiB")
# Gauges are refreshed every 500 ms.
GAUGE_REFRESH_S = 1.0
SCRAPE_ATTEMPTS = 40
SCRAPE_INTERVAL_S = 0.25


def values():
    return [(None, b"%08d" % i + b"." * (VALUE_BYTES - 8)) for i in range(RECORDS)]


def produce(bootstrap, topic, acks):
    producer = new_producer(bootstrap, **{"acks": acks, "linger.ms": 5})
    delivered = produce_all(producer, topic, values(), partition=0)
    assert not delivered.errors, delivered.errors[:3]


def recent_bytes(http_port, at_least=0):
    """The broker's recent-batch bytes, scraped until at least `at_least` (or the last try)."""
    held = 0
    for _ in range(SCRAPE_ATTEMPTS):
        held = total(scrape(http_port), "millrace_recent_batches_bytes")
        if held >= at_least:
            break
        time.sleep(SCRAPE_INTERVAL_S)
    return held


def assert_reads_back(bootstrap, topic):
    got = [v for _, _, v in consume_all(bootstrap, topic, 1)[0]]
    assert len(got) == RECORDS and [v[:8] for v in got] == [b"%08d" % i for i in range(RECORDS)]


def test_one_busy_partition_keeps_more_than_the_old_bound_and_reads_back(broker):
    http_port = free_port()
    b = broker(**{"num.shards": 1, "http.listener": f"127.0.0.1:{http_port}"})
    room = ROOM_LOG_LINE.search(b.stderr_tail(100_000))
    assert room, b.stderr_tail()
    room_bytes = int(room.group(1)) << 20
    assert room_bytes >= 512 << 20, room_bytes
    topic = unique_topic("recent-room")
    create_topic(b.bootstrap, topic, 1)
    produce(b.bootstrap, topic, "all")
    held = recent_bytes(http_port, at_least=3 * OLD_PARTITION_BOUND_BYTES)
    assert 3 * OLD_PARTITION_BOUND_BYTES <= held <= room_bytes, (held, room_bytes)
    assert_reads_back(b.bootstrap, topic)


def test_followers_keep_little_of_what_they_replicate_and_the_leader_keeps_it(millrace_cluster):
    cluster = millrace_cluster(brokers=3, http=True)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("recent-followers")
    leader = create_rf3_topic(cluster.bootstrap, topic).leader
    produce(cluster.bootstrap, topic, "all")
    leader_held = recent_bytes(cluster.node(leader).http_port, at_least=3 * OLD_PARTITION_BOUND_BYTES)
    assert leader_held >= 3 * OLD_PARTITION_BOUND_BYTES, leader_held
    # The followers' gauges are refreshed by then too (the same 500 ms period), after their last
    # write round: acks=all answered once they held every record.
    time.sleep(GAUGE_REFRESH_S)
    held = {n: recent_bytes(cluster.node(n).http_port) for n in (1, 2, 3)}
    for follower in (n for n in (1, 2, 3) if n != leader):
        assert held[follower] <= FOLLOWER_RECENT_BYTES_MAX + FOLLOWER_SLACK_BYTES, held
    assert_reads_back(cluster.bootstrap, topic)
