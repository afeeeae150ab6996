"""Issue 13: a topic deleted and created again under the same name while one of its replicas'
brokers is down. That broker is a replica of the new topic too; when it comes back, its directory
`T-0` still holds the old topic's records, offsets and leader epochs. Kafka tells them apart by
the topic id in each partition directory's `partition.metadata` (`version: 0` / `topic_id: <base64
uuid>`): the old directory is a stray (its id is not in the metadata), deleted, and the partition
created fresh. Three brokers (num.shards=1); the restarted broker must end up holding the new
topic's records only, byte for byte as the leader wrote them."""

import re
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from clients import consume_all, new_producer, produce_all, quiet_config, unique_topic
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_replication_rf3_followers_hold_the_leaders_bytes import (log_batches, wait_for_identical_logs,
                                                                   wait_for_leader)

OLD_RECORDS = 50
# Fewer than the old topic had: a broker that kept its old log truncates to here (both topics'
# epoch 0 ends there on the leader) and keeps the old records below it.
NEW_RECORDS = 30
# Records per produce call (flushed, so one batch each): a batch ends at NEW_RECORDS, and the
# truncation keeps the old batches before it.
BATCH_RECORDS = 10
ADMIN_TIMEOUT_S = 30
RECREATE_TIMEOUT_S = 30
# The restarted broker registers, finds its directory stray and fetches the new records.
CATCH_UP_TIMEOUT_S = 30
RESTARTED = 3
PARTITION_METADATA = "partition.metadata"


def produce(bootstrap, topic, prefix, count):
    producer = new_producer(bootstrap, acks="all", **{"enable.idempotence": True})
    for first in range(0, count, BATCH_RECORDS):
        records = [(None, b"%s-%d" % (prefix, i)) for i in range(first, first + BATCH_RECORDS)]
        delivered = produce_all(producer, topic, records, partition=0)
        assert not delivered.errors, delivered.errors[:3]
        assert [offset for _, offset, _, _ in delivered.delivered] == list(range(first, first + BATCH_RECORDS))


def topic_id_in(node, topic):
    """The topic id written in the partition directory's `partition.metadata`, checked to be in
    Kafka's format: `version: 0` then `topic_id: ` and 22 characters of base64url."""
    lines = (node.data_dir / f"{topic}-0" / PARTITION_METADATA).read_text().splitlines()
    assert len(lines) == 2 and lines[0] == "version: 0" and lines[1].startswith("topic_id: "), lines
    topic_id = lines[1].removeprefix("topic_id: ")
    assert len(topic_id) == 22 and all(c.isalnum() or c in "-_" for c in topic_id), topic_id
    return topic_id


def admin_call(call):
    """Waits for an admin operation's one future; asked again on NOT_CONTROLLER (the stopped
    broker was the active controller, and the others elect a new one)."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        (future,) = call(operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S).values()
        try:
            return future.result(timeout=ADMIN_TIMEOUT_S)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.NOT_CONTROLLER or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def values(batches):
    """The record values produced here (uncompressed) found in raw batches, for messages."""
    return [value.decode() for _, raw in batches for value in re.findall(rb"(?:old|new)-\d+", raw)]


def wait_for_copy_of_leader(cluster, node, topic):
    """Waits until the restarted broker's log holds the same batches as broker 1's (the leader):
    its old log's end is past the new one's at once, so equal ends prove nothing."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while True:
        leader, restarted = log_batches(cluster.node(1).data_dir, topic), log_batches(node.data_dir, topic)
        if restarted == leader:
            return restarted
        assert time.monotonic() < deadline, \
            f"broker {RESTARTED} holds {values(restarted)[:3]}..., not the leader's {values(leader)[:3]}..."
        time.sleep(0.2)


def create(admin, topic):
    """CreateTopics of one partition on brokers [1, 2, 3] (the restarted one among them, even while
    it is down); asked again while a deletion of the name lands."""
    new_topic = NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2, RESTARTED]])
    deadline = time.monotonic() + RECREATE_TIMEOUT_S
    while True:
        try:
            return admin_call(lambda **timeouts: admin.create_topics([new_topic], **timeouts))
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            assert time.monotonic() < deadline, f"{topic} still exists {RECREATE_TIMEOUT_S}s after its deletion"
            time.sleep(0.2)


def test_a_replica_back_after_its_topic_was_recreated_holds_the_new_topics_records_only(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    wait_for_brokers(cluster.bootstrap, 3)
    admin = AdminClient(quiet_config(cluster.bootstrap))
    topic = unique_topic("recreated")
    create(admin, topic)
    wait_for_leader(cluster.bootstrap, topic)
    produce(cluster.bootstrap, topic, b"old", OLD_RECORDS)
    wait_for_identical_logs(cluster, topic, [1, 2, RESTARTED], OLD_RECORDS)
    node = cluster.node(RESTARTED)

    cluster.stop(RESTARTED)
    admin_call(lambda **timeouts: admin.delete_topics([topic], **timeouts))
    create(admin, topic)
    wait_for_leader(cluster.bootstrap, topic)
    produce(cluster.bootstrap, topic, b"new", NEW_RECORDS)
    assert len(log_batches(node.data_dir, topic)) > 0, "the stopped broker's old log is gone already"

    cluster.restart(RESTARTED)
    batches = wait_for_identical_logs(cluster, topic, [1, 2], NEW_RECORDS)
    restarted = wait_for_copy_of_leader(cluster, node, topic)
    assert restarted == batches, f"broker {RESTARTED} holds more than the new topic's records"
    assert not any(b"old-" in raw for _, raw in restarted), f"broker {RESTARTED} still holds old records"
    # Every record, as a client reads it from the new topic.
    read = consume_all(cluster.bootstrap, topic, 1)[0]
    assert [(offset, value) for offset, _, value in read] == \
        [(i, b"new-%d" % i) for i in range(NEW_RECORDS)]
    # The restarted broker's directory names the new topic's id, as the others' do.
    assert topic_id_in(node, topic) == topic_id_in(cluster.node(1), topic) == topic_id_in(cluster.node(2), topic)
    log = node.stderr_tail(1 << 20)
    assert f"stray log {topic}-0 deleted" in log or f"deleted topic {topic}" in log
