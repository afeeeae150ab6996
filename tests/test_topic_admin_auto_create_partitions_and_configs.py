"""Topic administration beyond create/delete: auto-creation with num.partitions,
CreatePartitions (the new partitions take records), DescribeConfigs (per-topic overrides and
broker defaults), and a rejected duplicate CreateTopics. Topics survive a restart with their
partition counts and configs."""

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic, ResourceType

from clients import (
    ADMIN_TIMEOUT_S,
    consume_all,
    create_topic,
    new_producer,
    produce_all,
    quiet_config,
    unique_topic,
    wait_for_partitions,
)

AUTO_PARTITIONS = 4
RETENTION_MS = "3600000"


def describe_topic_configs(admin, topic):
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=ADMIN_TIMEOUT_S)[resource].result(timeout=ADMIN_TIMEOUT_S)
    return {name: entry.value for name, entry in entries.items()}


def test_produce_to_unknown_topic_auto_creates_it_with_num_partitions(broker):
    b = broker(**{"num.partitions": AUTO_PARTITIONS})
    topic = unique_topic("auto")
    producer = new_producer(b.bootstrap, acks="all")
    log = produce_all(producer, topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(200)])
    assert not log.errors, log.errors[:3]
    wait_for_partitions(AdminClient(quiet_config(b.bootstrap)), topic, AUTO_PARTITIONS)
    received = consume_all(b.bootstrap, topic, AUTO_PARTITIONS)
    assert sum(len(r) for r in received.values()) == 200


def test_create_partitions_describe_configs_and_restart(broker):
    b = broker()
    topic = unique_topic("admin")
    create_topic(b.bootstrap, topic, 2, config={"retention.ms": RETENTION_MS})
    admin = AdminClient(quiet_config(b.bootstrap))

    duplicate = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic]
    try:
        duplicate.result(timeout=ADMIN_TIMEOUT_S)
        raise AssertionError("creating an existing topic must fail")
    except KafkaException as err:
        assert err.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, err

    configs = describe_topic_configs(admin, topic)
    assert configs.get("retention.ms") == RETENTION_MS, f"retention.ms described as {configs.get('retention.ms')}"
    assert "segment.bytes" in configs and "cleanup.policy" in configs, f"described keys: {sorted(configs)}"

    admin.create_partitions([NewPartitions(topic, 5)], request_timeout=ADMIN_TIMEOUT_S)[topic].result(
        timeout=ADMIN_TIMEOUT_S
    )
    wait_for_partitions(admin, topic, 5)
    producer = new_producer(b.bootstrap, acks="all")
    for partition in range(5):
        log = produce_all(producer, topic, [(b"k", f"p{partition}".encode())], partition=partition)
        assert not log.errors and log.delivered[0][:2] == (partition, 0), log.delivered

    assert b.stop() == 0
    b.start()
    admin = AdminClient(quiet_config(b.bootstrap))
    wait_for_partitions(admin, topic, 5)
    assert describe_topic_configs(admin, topic).get("retention.ms") == RETENTION_MS, "topic config lost on restart"
    received = consume_all(b.bootstrap, topic, 5)
    assert {p: [v for _, _, v in r] for p, r in received.items()} == {p: [f"p{p}".encode()] for p in range(5)}
