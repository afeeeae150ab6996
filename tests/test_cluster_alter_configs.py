"""Issue 12: topic configs altered in a 3-broker cluster. IncrementalAlterConfigs (confluent-kafka,
and Kafka's own kafka-configs) and the legacy AlterConfigs sent to any broker reach the active
controller, which writes them to the metadata log as config records; every broker applies them,
so DescribeConfigs on each shows the new values (DYNAMIC_TOPIC_CONFIG), and a removed key falls
back to its default everywhere. Refusals are answered per resource as on a single node: a bad
value is INVALID_CONFIG naming the key, an unknown topic UNKNOWN_TOPIC_OR_PARTITION, and
validate_only changes nothing. (A cluster answered INVALID_REQUEST to all of it before.)"""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

from clients import create_topic, quiet_config, unique_topic
from java_clients import tool_ok
from test_admin_alter_configs_and_log_dirs import alter, alter_error, topic_configs
from test_cluster_three_brokers_serve_clients import wait_for_brokers, wait_for_topics

pytestmark = pytest.mark.timeout(240)
APPLIED_TIMEOUT_S = 15
CONFIG_TOOL = "org.apache.kafka.tools.ConfigCommand"


def set_entry(key, value):
    return ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)


def wait_configs_everywhere(cluster, topic, expected):
    """Polls DescribeConfigs on every broker until `expected` ({key: (value, source)}) holds on
    each; returns {node id: configs}."""
    seen = {}
    deadline = time.monotonic() + APPLIED_TIMEOUT_S
    for node_id in cluster.nodes:
        admin = AdminClient(quiet_config(cluster.node(node_id).bootstrap))
        while True:
            configs = topic_configs(admin, topic)
            seen[node_id] = {k: (configs[k].value, configs[k].source) for k in expected}
            if seen[node_id] == expected:
                break
            assert time.monotonic() < deadline, f"broker {node_id}: {seen[node_id]} != {expected}"
            time.sleep(0.1)
    return seen


def test_topic_configs_altered_through_any_broker_apply_on_every_broker(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    for node_id in cluster.nodes:
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    topic = unique_topic("cluster-configs")
    create_topic(cluster.node(1).bootstrap, topic, 3)
    for node_id in cluster.nodes:
        wait_for_topics(cluster.node(node_id).bootstrap, [topic])
    default_retention = topic_configs(AdminClient(quiet_config(cluster.node(1).bootstrap)), topic)[
        "retention.ms"].value
    dynamic = ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    # IncrementalAlterConfigs through broker 2.
    admin = AdminClient(quiet_config(cluster.node(2).bootstrap))
    alter(admin, ConfigResource.Type.TOPIC, topic, [
        ("retention.ms", "3600000", AlterConfigOpType.SET),
        ("segment.bytes", "1048576", AlterConfigOpType.SET),
    ])
    wait_configs_everywhere(cluster, topic, {"retention.ms": ("3600000", dynamic),
                                             "segment.bytes": ("1048576", dynamic)})

    # validate_only changes nothing; a bad value and an unknown topic are refused.
    alter(admin, ConfigResource.Type.TOPIC, topic, [("retention.ms", "1", AlterConfigOpType.SET)],
          validate_only=True)
    bad = alter_error(admin, ConfigResource.Type.TOPIC, topic,
                      [("retention.ms", "soon", AlterConfigOpType.SET)])
    assert bad.code() == KafkaError.INVALID_CONFIG and "retention.ms" in bad.str(), bad
    missing = alter_error(admin, ConfigResource.Type.TOPIC, unique_topic("no-such-topic"),
                          [("retention.ms", "1000", AlterConfigOpType.SET)])
    assert missing.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, missing

    # Kafka's kafka-configs through broker 3: a DELETE falls back to the default everywhere.
    done = tool_ok(CONFIG_TOOL, "--bootstrap-server", cluster.node(3).bootstrap, "--alter",
                   "--entity-type", "topics", "--entity-name", topic, "--delete-config", "retention.ms")
    assert done.strip() == f"Completed updating config for topic {topic}.", done
    seen = wait_configs_everywhere(cluster, topic, {"segment.bytes": ("1048576", dynamic)})
    for node_id in cluster.nodes:
        admin_here = AdminClient(quiet_config(cluster.node(node_id).bootstrap))
        retention = topic_configs(admin_here, topic)["retention.ms"]
        assert retention.value == default_retention and retention.source != dynamic, (node_id, retention)
    assert len(seen) == 3

    # The legacy AlterConfigs (replaces the topic's whole set) through broker 1.
    legacy = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"retention.ms": "7200000"})
    legacy_admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    legacy_admin.alter_configs([legacy])[legacy].result(timeout=30)
    wait_configs_everywhere(cluster, topic, {"retention.ms": ("7200000", dynamic)})
    for node_id in cluster.nodes:
        configs = topic_configs(AdminClient(quiet_config(cluster.node(node_id).bootstrap)), topic)
        assert configs["segment.bytes"].source != dynamic, (node_id, configs["segment.bytes"])


def test_a_refused_change_leaves_the_others_of_the_request_applied(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    for node_id in cluster.nodes:
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    good, bad = unique_topic("cluster-configs-good"), unique_topic("cluster-configs-bad")
    for topic in (good, bad):
        create_topic(cluster.node(1).bootstrap, topic, 1)
        for node_id in cluster.nodes:
            wait_for_topics(cluster.node(node_id).bootstrap, [topic])
    admin = AdminClient(quiet_config(cluster.node(3).bootstrap))
    resources = [
        ConfigResource(ConfigResource.Type.TOPIC, good, incremental_configs=[
            set_entry("retention.ms", "60000")]),
        ConfigResource(ConfigResource.Type.TOPIC, bad, incremental_configs=[
            set_entry("retention.ms", "never")]),
    ]
    futures = admin.incremental_alter_configs(resources, request_timeout=30)
    futures[resources[0]].result(timeout=30)
    with pytest.raises(KafkaException) as refused:
        futures[resources[1]].result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG, refused.value
    dynamic = ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    wait_configs_everywhere(cluster, good, {"retention.ms": ("60000", dynamic)})
    for node_id in cluster.nodes:
        configs = topic_configs(AdminClient(quiet_config(cluster.node(node_id).bootstrap)), bad)
        assert configs["retention.ms"].source != dynamic, (node_id, configs["retention.ms"])

