"""kafkajs 2.2.4's admin.alterConfigs, its only way to change a topic config, sends the legacy
AlterConfigs (key 33, v1), not IncrementalAlterConfigs. As in Kafka, a resource's entries
replace the topic's whole set of overrides: listed keys are set, every other key returns to its
default. validateOnly changes nothing; an unknown key is refused with INVALID_CONFIG."""

import pytest

from clients import unique_topic
from kafkajs_node import admin, admin_error


# Each kafkajs script has its own 20 s deadline; this bounds the whole test.
pytestmark = pytest.mark.timeout(90)
RESOURCE_TOPIC = 2
RETENTION_MS = "3600000"
SEGMENT_MS = "600000"
WATCHED_KEYS = ["retention.ms", "segment.ms"]


def configs(bootstrap, topic):
    """{key: (value, isDefault)} of the watched keys, as describeConfigs (v2) reports them."""
    answer = admin(
        bootstrap,
        "describeConfigs",
        resources=[{"type": RESOURCE_TOPIC, "name": topic, "configNames": WATCHED_KEYS}],
        includeSynonyms=False,
    )
    (resource,) = answer["resources"]
    assert resource["errorCode"] == 0, resource
    return {e["configName"]: (e["configValue"], e["isDefault"]) for e in resource["configEntries"]}


def alter(bootstrap, topic, entries, validate_only=False):
    return admin(
        bootstrap,
        "alterConfigs",
        validateOnly=validate_only,
        resources=[
            {
                "type": RESOURCE_TOPIC,
                "name": topic,
                "configEntries": [{"name": name, "value": value} for name, value in entries],
            }
        ],
    )


def test_kafkajs_alter_configs_replaces_a_topics_overrides(broker):
    bootstrap, _, _ = broker()
    topic, plain = unique_topic("kjs-alter"), unique_topic("kjs-plain")
    admin(
        bootstrap,
        "createTopics",
        topics=[
            {"topic": topic, "numPartitions": 1, "configEntries": [{"name": "retention.ms", "value": RETENTION_MS}]},
            {"topic": plain, "numPartitions": 1},
        ],
    )
    defaults = configs(bootstrap, plain)
    assert all(is_default for _, is_default in defaults.values()), defaults
    created = configs(bootstrap, topic)
    assert created["retention.ms"] == (RETENTION_MS, False), created

    checked = alter(bootstrap, topic, [("segment.ms", SEGMENT_MS)], validate_only=True)
    assert checked["resources"] == [
        {"errorCode": 0, "errorMessage": None, "resourceType": RESOURCE_TOPIC, "resourceName": topic}
    ], checked
    assert configs(bootstrap, topic) == created

    alter(bootstrap, topic, [("segment.ms", SEGMENT_MS)])
    altered = configs(bootstrap, topic)
    assert altered["segment.ms"] == (SEGMENT_MS, False), altered
    # Not listed, so no longer overridden: the legacy API replaces the whole set.
    assert altered["retention.ms"] == defaults["retention.ms"], altered

    error = admin_error(bootstrap, "alterConfigs", resources=[
        {"type": RESOURCE_TOPIC, "name": topic, "configEntries": [{"name": "no.such.key", "value": "1"}]}
    ])
    assert error["type"] == "INVALID_CONFIG", error
    assert configs(bootstrap, topic) == altered
