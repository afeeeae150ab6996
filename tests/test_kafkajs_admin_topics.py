"""kafkajs 2.2.4's admin client against the broker: createTopics (several partitions, with a
config, and again for an existing topic), listTopics, fetchTopicMetadata, fetchTopicOffsets
after a known number of messages per partition, fetchTopicOffsetsByTimestamp, createPartitions,
describeConfigs and deleteTopics, each through kafkajs's own encoders (CreateTopics v3,
Metadata v6, ListOffsets v3, DescribeConfigs v2, DeleteTopics v1)."""

import pytest

from clients import unique_topic
from kafkajs_node import admin, admin_error, run_script


# Each kafkajs script has its own 20 s deadline; this bounds the whole test.
pytestmark = pytest.mark.timeout(90)
NODE_ID = 0
SMALL_PARTITIONS = 3
GROWN_PARTITIONS = 4
LARGE_PARTITIONS = 5
MESSAGES_PER_PARTITION = 10
RETENTION_MS = "3600000"
RESOURCE_TOPIC = 2


def partitions_of(metadata, topic):
    (found,) = [t for t in metadata["topics"] if t["name"] == topic]
    return sorted(found["partitions"], key=lambda p: p["partitionId"])


def check_partitions(metadata, topic, count):
    partitions = partitions_of(metadata, topic)
    assert [p["partitionId"] for p in partitions] == list(range(count)), partitions
    for partition in partitions:
        assert partition["partitionErrorCode"] == 0, partition
        assert partition["leader"] == NODE_ID and partition["replicas"] == [NODE_ID], partition
        assert partition["isr"] == [NODE_ID], partition


def test_kafkajs_admin_creates_lists_describes_and_deletes_topics(broker):
    bootstrap, _, _ = broker()
    small, large = unique_topic("kjs-admin-small"), unique_topic("kjs-admin-large")
    created = admin(
        bootstrap,
        "createTopics",
        topics=[
            {
                "topic": small,
                "numPartitions": SMALL_PARTITIONS,
                "configEntries": [{"name": "retention.ms", "value": RETENTION_MS}],
            },
            {"topic": large, "numPartitions": LARGE_PARTITIONS},
        ],
        waitForLeaders=True,
    )
    assert created is True
    # kafkajs answers false (not an error) when every topic already exists.
    assert admin(bootstrap, "createTopics", topics=[{"topic": small, "numPartitions": 1}]) is False
    assert {small, large} <= set(admin(bootstrap, "listTopics"))

    metadata = admin(bootstrap, "fetchTopicMetadata", topics=[small, large])
    check_partitions(metadata, small, SMALL_PARTITIONS)
    check_partitions(metadata, large, LARGE_PARTITIONS)

    count = MESSAGES_PER_PARTITION * LARGE_PARTITIONS
    run_script("produce.js", bootstrap, large, options={"count": count, "spread": LARGE_PARTITIONS})
    offsets = sorted(admin(bootstrap, "fetchTopicOffsets", topic=large), key=lambda p: p["partition"])
    expected = str(MESSAGES_PER_PARTITION)
    assert offsets == [
        {"partition": p, "offset": expected, "high": expected, "low": "0"} for p in range(LARGE_PARTITIONS)
    ]
    # Every record is younger than timestamp 0: each partition's answer is its first offset.
    by_time = admin(bootstrap, "fetchTopicOffsetsByTimestamp", topic=large, timestamp=0)
    assert sorted(by_time, key=lambda p: p["partition"]) == [
        {"partition": p, "offset": "0"} for p in range(LARGE_PARTITIONS)
    ]

    admin(bootstrap, "createPartitions", topicPartitions=[{"topic": small, "count": GROWN_PARTITIONS}])
    check_partitions(admin(bootstrap, "fetchTopicMetadata", topics=[small]), small, GROWN_PARTITIONS)

    configs = admin(
        bootstrap,
        "describeConfigs",
        resources=[{"type": RESOURCE_TOPIC, "name": small, "configNames": ["retention.ms"]}],
        includeSynonyms=False,
    )
    (resource,) = configs["resources"]
    assert resource["errorCode"] == 0, resource
    (entry,) = resource["configEntries"]
    assert (entry["configName"], entry["configValue"], entry["isDefault"]) == ("retention.ms", RETENTION_MS, False)

    admin(bootstrap, "deleteTopics", topics=[small])
    remaining = set(admin(bootstrap, "listTopics"))
    assert small not in remaining and large in remaining, remaining
    error = admin_error(bootstrap, "fetchTopicMetadata", topics=[small])
    assert error["type"] == "UNKNOWN_TOPIC_OR_PARTITION", error
