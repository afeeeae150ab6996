"""Issue 13: a replica's log start, as in Kafka.

- Retention on a leader stops at the high watermark (Kafka's `deletableSegments`): records its
  in-sync followers have not fetched yet are never deleted, so a follower paused for a moment
  (still in the ISR) gets every record when it resumes. Before, retention by size moved the
  leader's log start past its high watermark: records not yet committed were gone.
- A follower takes its leader's log start from each fetch answer (Kafka's
  `maybeIncrementLogStartOffset`): its segments wholly below it are deleted, the start is named in
  `log-start-offset-checkpoint`, and when it leads, consumers start there. Before, it kept its own
  older start, so after a leader change deleted records came back (and, after an unclean history,
  records the leader had replaced, which the replication simulator found with seed 13411)."""

import time

from confluent_kafka import Consumer, ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

import kafka_wire
from clients import quiet_config, unique_topic
from cluster_fixture import FAST_SESSIONS
from jepsen.nemesis import pause, resume
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_replication_follower_truncation_across_segments import segment_bases
from test_replication_rf3_followers_hold_the_leaders_bytes import (
    ADMIN_TIMEOUT_S, CONVERGE_TIMEOUT_S, produce_once_led, raw_produce, wait_for_identical_logs, wait_for_isr,
    wait_for_leader)

SEGMENT_BYTES = 16384
VALUE_BYTES = 200
RECORDS_PER_BATCH = 10
EARLIEST = -2
RETENTION_PASSES_S = 3
CHECKPOINT_TIMEOUT_S = 15
CLUSTER_EXTRA = ["log.retention.check.interval.ms=500", "replica.high.watermark.checkpoint.interval.ms=500"]


def produce_batches(broker, topic, tag, batches, acks=-1):
    """`batches` Produce requests of RECORDS_PER_BATCH records straight to `broker`."""
    value = b"x" * VALUE_BYTES
    for i in range(batches):
        values = [b"%s-%d-%d-" % (tag, i, j) + value for j in range(RECORDS_PER_BATCH)]
        error, _ = (produce_once_led(broker, topic, 0, values) if acks == -1
                    else raw_produce(broker, topic, 0, values, acks=acks))
        assert error == 0, (tag, i, error)


def offsets_on(broker, topic):
    """(log start, high watermark) as `broker` answers ListOffsets (it must lead)."""
    with kafka_wire.connect(broker.bootstrap) as sock:
        earliest = kafka_wire.list_offsets_v1(sock, 1, topic, {0: EARLIEST})[0]
        latest = kafka_wire.list_offsets_v1(sock, 2, topic, {0: -1})[0]
    assert earliest[0] == 0 and latest[0] == 0, (earliest, latest)
    return earliest[2], latest[2]


def set_retention_bytes(bootstrap, topic, value):
    admin = AdminClient(quiet_config(bootstrap))
    entry = ConfigEntry("retention.bytes", str(value), incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=ADMIN_TIMEOUT_S)


def checkpointed_log_start(node, topic):
    path = node.data_dir / "log-start-offset-checkpoint"
    if not path.exists():
        return None
    for line in path.read_text().splitlines()[2:]:
        name, partition, offset = line.split()
        if (name, int(partition)) == (topic, 0):
            return int(offset)
    return None


def wait_for(what, condition, timeout_s=CONVERGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def first_segment_holds(node, topic, offset):
    """Whether `node`'s first segment of the topic is the one holding `offset`."""
    bases = segment_bases(node, topic)
    return bases[0] == max(b for b in bases if b <= offset)


def first_offset_consumed(bootstrap, topic):
    consumer = Consumer({**quiet_config(bootstrap), "group.id": unique_topic("g"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0)])
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                return message.offset()
        raise AssertionError(f"{topic}: nothing consumed")
    finally:
        consumer.close()


def test_retention_on_a_leader_stops_at_the_high_watermark(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=CLUSTER_EXTRA)
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("retention-below-hw")
    admin = AdminClient(quiet_config(cluster.bootstrap))
    configs = {"min.insync.replicas": "1", "segment.bytes": str(SEGMENT_BYTES),
               "retention.bytes": str(2 * SEGMENT_BYTES)}
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3, config=configs)],
                        operation_timeout=ADMIN_TIMEOUT_S)[topic].result(timeout=ADMIN_TIMEOUT_S)
    leader_id = wait_for_leader(cluster.bootstrap, topic).leader
    leader = cluster.node(leader_id)
    followers = [b for b in (1, 2, 3) if b != leader_id]
    produce_batches(leader, topic, b"common", 10)
    committed = 10 * RECORDS_PER_BATCH
    wait_for_identical_logs(cluster, topic, [1, 2, 3], committed)
    wait_for(f"{topic}: the high watermark at {committed}", lambda: offsets_on(leader, topic)[1] == committed)
    # The followers stall (still in the ISR: far less than replica.lag.time.max.ms); acks=1 records
    # fill several segments past the high watermark on the leader alone.
    for broker in followers:
        pause(cluster.node(broker))
    try:
        produce_batches(leader, topic, b"unreplicated", 40, acks=1)
        assert len(segment_bases(leader, topic)) >= 4, segment_bases(leader, topic)
        time.sleep(RETENTION_PASSES_S)
        start, high_watermark = offsets_on(leader, topic)
        # Before: the log start was past the high watermark (e.g. 360 > 100).
        assert high_watermark == committed, (high_watermark, committed)
        assert start <= high_watermark, (start, high_watermark, segment_bases(leader, topic))
    finally:
        for broker in followers:
            resume(cluster.node(broker))
    # The followers get every record the leader kept for them, and retention then goes on.
    wait_for_isr(cluster.bootstrap, topic, 0, [1, 2, 3])
    end = (10 + 40) * RECORDS_PER_BATCH
    wait_for(f"{topic}: the high watermark at {end}", lambda: offsets_on(leader, topic)[1] == end)
    wait_for(f"{topic}: retention past {committed}", lambda: offsets_on(leader, topic)[0] > committed)


def test_a_follower_takes_its_leaders_log_start_and_consumers_start_there_when_it_leads(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=[*CLUSTER_EXTRA, *FAST_SESSIONS])
    wait_for_brokers(cluster.bootstrap, 3)
    topic = unique_topic("follower-log-start")
    admin = AdminClient(quiet_config(cluster.bootstrap))
    configs = {"min.insync.replicas": "1", "segment.bytes": str(SEGMENT_BYTES)}
    admin.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2, 3]], config=configs)],
                        operation_timeout=ADMIN_TIMEOUT_S)[topic].result(timeout=ADMIN_TIMEOUT_S)
    assert wait_for_leader(cluster.bootstrap, topic).leader == 1
    produce_batches(cluster.node(1), topic, b"early", 60)
    stopped_end = 60 * RECORDS_PER_BATCH
    wait_for_identical_logs(cluster, topic, [1, 2, 3], stopped_end)
    # Broker 1 stops; broker 2 leads, takes more records, and retention moves its log start into
    # what broker 1 holds.
    cluster.stop(1)
    survivors = ",".join(cluster.node(b).bootstrap for b in (2, 3))
    new_leader = cluster.node(wait_for_leader(survivors, topic, other_than=1).leader)
    produce_batches(new_leader, topic, b"late", 10)
    set_retention_bytes(survivors, topic, 5 * SEGMENT_BYTES)
    start = wait_for("retention on the new leader", lambda: offsets_on(new_leader, topic)[0])
    assert 0 < start < stopped_end, (start, stopped_end, "retention.bytes leaves too much or too little")
    # Kept from now on, so broker 1's own retention deletes nothing of its own accord.
    set_retention_bytes(survivors, topic, -1)

    cluster.restart(1)
    wait_for_isr(cluster.bootstrap, topic, 0, [1, 2, 3])
    follower = cluster.node(1)
    # Before: its log still started at 0 and its first segments stayed.
    wait_for("broker 1's segments wholly below the leader's log start deleted",
             lambda: first_segment_holds(follower, topic, start))
    wait_for("broker 1's log-start-offset-checkpoint", lambda: checkpointed_log_start(follower, topic) == start,
             CHECKPOINT_TIMEOUT_S)
    # Leading again, broker 1 serves from the leader's start: nothing deleted comes back.
    results = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(
        timeout=ADMIN_TIMEOUT_S)
    assert all(error is None or error.code() == 84 for error in results.values()), results
    wait_for("broker 1 leading", lambda: wait_for_leader(cluster.bootstrap, topic).leader == 1)
    assert offsets_on(follower, topic)[0] == start
    assert first_offset_consumed(follower.bootstrap, topic) == start
