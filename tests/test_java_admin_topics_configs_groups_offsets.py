"""kafka-clients 4.4.0 AdminClient against millrace, step by step (tests/java AdminScenario):
topics (CreateTopics incl. validate-only, a duplicate and a bad config; Metadata for list /
describe / describeCluster; CreatePartitions up and down; DeleteTopics), configs
(DescribeConfigs for a topic and the broker; IncrementalAlterConfigs SET, DELETE and an
invalid value), offsets (ListOffsets earliest / latest / max-timestamp / for-timestamp;
OffsetCommit through alterConsumerGroupOffsets, OffsetFetch, OffsetDelete) and groups
(ListGroups, DescribeGroups, DeleteGroups of an empty and of a busy group). Every answer is
checked against what Apache Kafka answers for the same call."""

import time

import pytest

from clients import unique_topic
from java_clients import driver

pytestmark = pytest.mark.timeout(120)
TIMESTAMP_STEP_MS = 1000
DEFAULT_RETENTION_MS = "604800000"


def error(name):
    return lambda outcome: isinstance(outcome, dict) and outcome.get("error") == name


def test_java_admin_client_topics_configs_groups_and_offsets(broker):
    bootstrap, _, _ = broker(**{"group.initial.rebalance.delay.ms": 0})
    prefix = unique_topic("java-admin")
    one, two = f"{prefix}-one", f"{prefix}-two"
    timestamp_base = int(time.time() * 1000) - 60_000
    steps = driver("admin", bootstrap=bootstrap, prefix=prefix, timestamp_base=timestamp_base)

    # Topics.
    created = steps["createTopics"]
    assert (created["partitions"], created["t2 retention.ms"]) == (3, "3600000"), created
    assert error("TopicExistsException")(steps["createExistingTopic"]), steps["createExistingTopic"]
    assert steps["createTopicValidateOnly"] == "ok"
    bad = steps["createTopicBadConfig"]
    assert error("InvalidConfigurationException")(bad) and "retention.ms" in bad["message"], bad
    # Neither the validate-only topic nor the refused one exists.
    assert steps["listTopics"] == [one, two], steps["listTopics"]
    described = steps["describeTopics"]
    assert described[one]["topicId"] == created["topicId"]
    assert described[one]["partitions"] == [[p, 0, [0], [0]] for p in range(3)]
    assert described[two]["partitions"] == [[0, 0, [0], [0]]] and not described[two]["internal"]
    host, port = bootstrap.split(":")
    cluster = steps["describeCluster"]
    assert (cluster["controller"], cluster["nodes"]) == (0, [[0, host, int(port)]]) and cluster["clusterId"], cluster
    assert steps["createPartitions"][one]["partitions"] == [[p, 0, [0], [0]] for p in range(5)]
    decrease = steps["createPartitionsDecrease"]
    assert error("InvalidPartitionsException")(decrease), decrease
    assert steps["deleteTopics"] == "ok"
    assert steps["listTopicsAfterDelete"] == [one]
    assert error("UnknownTopicOrPartitionException")(steps["describeDeletedTopic"]), steps["describeDeletedTopic"]

    # Configs: defaults, a SET shown as a dynamic topic config, a DELETE back to the default.
    assert steps["describeConfigs"]["retention.ms"] == [DEFAULT_RETENTION_MS, "DEFAULT_CONFIG"]
    assert steps["describeConfigs"]["cleanup.policy"] == ["delete", "DEFAULT_CONFIG"]
    after_set = steps["alterConfigsSet"]
    assert after_set["retention.ms"] == ["86400000", "DYNAMIC_TOPIC_CONFIG"]
    assert after_set["segment.bytes"] == ["10485760", "DYNAMIC_TOPIC_CONFIG"]
    after_delete = steps["alterConfigsDelete"]
    assert after_delete["retention.ms"] == [DEFAULT_RETENTION_MS, "DEFAULT_CONFIG"]
    assert after_delete["segment.bytes"] == ["10485760", "DYNAMIC_TOPIC_CONFIG"]
    invalid = steps["alterConfigsInvalid"]
    assert error("InvalidConfigurationException")(invalid) and "retention.ms" in invalid["message"], invalid
    # As Apache Kafka 4.4: the retention default lives on log.retention.hours; log.retention.ms has none.
    broker = steps["describeBrokerConfigs"]
    assert (broker["log.retention.ms"], broker["log.retention.hours"]) == (None, "168")

    # ListOffsets: partition 0 holds 10 records, timestamps base + i s; partition 1 is empty.
    assert steps["listOffsets earliest"] == {"0": [0, -1], "1": [0, -1]}
    assert steps["listOffsets latest"] == {"0": [10, -1], "1": [0, -1]}
    assert steps["listOffsets maxTimestamp"] == {"0": [9, timestamp_base + 9 * TIMESTAMP_STEP_MS], "1": [-1, -1]}
    # The first record at or after base + 2.5 s is record 3.
    assert steps["listOffsets forTimestamp"] == {"0": [3, timestamp_base + 3 * TIMESTAMP_STEP_MS], "1": [-1, -1]}
    assert steps["listOffsets forTimestampPastEnd"] == {"0": [-1, -1], "1": [-1, -1]}

    # Groups: `group` read everything and left (Empty); `busy` still has its member.
    group, busy = f"{prefix}-group", f"{prefix}-busy"
    listed = {group: ["consumer", "Classic", "Empty"], busy: ["consumer", "Classic", "Stable"]}
    assert steps["listGroups"] == steps["listConsumerGroups"] == listed
    groups = steps["describeGroups"]
    assert groups[group] == {"state": "Empty", "type": "Classic", "assignor": "", "coordinator": 0, "members": []}
    assert groups[busy] == {
        "state": "Stable", "type": "Classic", "assignor": "range", "coordinator": 0, "members": [["busy", [0, 1, 2, 3, 4]]]
    }
    assert steps["listGroupOffsets"] == {"0": [10, ""], "1": [0, ""], "2": [0, ""], "3": [0, ""], "4": [0, ""]}
    assert steps["alterGroupOffsets"] == {"0": [4, "rewound"], "1": [0, ""], "2": [0, ""], "3": [0, ""], "4": [0, ""]}
    # As Kafka: an admin commit (no member id, generation -1) to a group with members.
    assert error("UnknownMemberIdException")(steps["alterBusyGroupOffsets"]), steps["alterBusyGroupOffsets"]
    assert steps["deleteGroupOffsets"] == {"0": [4, "rewound"], "2": [0, ""], "3": [0, ""], "4": [0, ""]}
    assert error("GroupNotEmptyException")(steps["deleteBusyGroup"]), steps["deleteBusyGroup"]
    assert steps["deleteGroups"] == "ok"
    assert steps["listGroupsAfterDelete"] == {}
    # As Kafka 4 answers (KIP-1043): DescribeGroups v6 says GROUP_ID_NOT_FOUND for a group that
    # does not exist (the conformance test compares this answer with Kafka's).
    assert error("GroupIdNotFoundException")(steps["describeDeletedGroup"]), steps["describeDeletedGroup"]
