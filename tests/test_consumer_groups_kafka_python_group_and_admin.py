"""kafka-python 3.x joins a group (its own JoinGroup/SyncGroup/Heartbeat/OffsetCommit versions),
consumes everything, commits; its admin client then lists, describes and deletes the group."""

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from clients import create_topic, new_producer, produce_all, unique_topic

PARTITIONS = 2
MESSAGES = 2000
DEADLINE_S = 60.0


def test_kafka_python_group_consumes_commits_and_admin_sees_group(broker):
    bootstrap, _, _ = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("kp-group")
    group = unique_topic("kp-g")
    create_topic(bootstrap, topic, PARTITIONS)
    produce_all(new_producer(bootstrap), topic, ((str(i).encode(), b"v") for i in range(MESSAGES)))

    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=1000,
    )
    keys = set()
    deadline = time.monotonic() + DEADLINE_S
    while len(keys) < MESSAGES:
        assert time.monotonic() < deadline, f"consumed {len(keys)}"
        for records in consumer.poll(timeout_ms=200).values():
            keys.update(r.key for r in records)
    consumer.commit()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        listed = admin.list_groups()
        assert group in repr(listed), listed
        described = admin.describe_groups([group])
        assert "Stable" in repr(described) and consumer.config["client_id"] in repr(described), described
        # OffsetFetch v8+: one request for a list of groups.
        offsets = admin.list_group_offsets({group: None})
        print(listed, described, offsets)
        text = repr(offsets)
        assert group in text and topic in text, offsets
        consumer.close()
        deleted = admin.delete_groups([group])
        assert deleted == {group: "OK"}, deleted
        remaining = admin.list_group_offsets({group: None})
        assert topic not in repr(remaining), remaining
    finally:
        admin.close()
