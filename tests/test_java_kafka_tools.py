"""Apache Kafka's own command-line tools (kafka-tools 4.4.0, run as their bin/kafka-*.sh
scripts run them: `java -cp ... MAIN_CLASS args`) against millrace, each checked by what it
prints: kafka-topics, kafka-console-producer / -consumer, kafka-consumer-groups, kafka-configs,
kafka-get-offsets, kafka-producer-perf-test and kafka-consumer-perf-test."""

import re

import pytest

from clients import unique_topic
from java_clients import tool, tool_ok

pytestmark = pytest.mark.timeout(240)
TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-configs": "org.apache.kafka.tools.ConfigCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
}
GROUP_BROKER = {"group.initial.rebalance.delay.ms": 0}


def kafka(name, bootstrap, *args, input=None):
    """Runs Kafka tool `name` with --bootstrap-server; it must exit 0; returns its stdout."""
    return tool_ok(TOOLS[name], "--bootstrap-server", bootstrap, *args, input=input)


def table(output):
    """The rows of a kafka-consumer-groups table (header first), split on white space."""
    return [line.split() for line in output.splitlines() if line.strip()]


def offsets(output):
    """kafka-get-offsets lines TOPIC:PARTITION:OFFSET -> {partition: offset}."""
    found = {}
    for line in output.splitlines():
        topic, partition, offset = line.rsplit(":", 2)
        found[int(partition)] = int(offset)
    return found


def test_kafka_topics_creates_lists_describes_alters_and_deletes(broker):
    bootstrap, _, _ = broker()
    topic = unique_topic("tool-topics")
    created = kafka("kafka-topics", bootstrap, "--create", "--topic", topic, "--partitions", "3",
                    "--replication-factor", "1", "--config", "retention.ms=123456")
    assert created.strip() == f"Created topic {topic}."
    assert topic in kafka("kafka-topics", bootstrap, "--list").split()

    described = kafka("kafka-topics", bootstrap, "--describe", "--topic", topic).splitlines()
    header = described[0].split("\t")
    assert header[0] == f"Topic: {topic}" and header[2:] == [
        "PartitionCount: 3", "ReplicationFactor: 1", "Configs: retention.ms=123456"
    ], described
    assert re.fullmatch(r"TopicId: [A-Za-z0-9_-]{22}", header[1]), header
    for partition, line in enumerate(described[1:]):
        assert line.split("\t")[1:5] == [f"Topic: {topic}", f"Partition: {partition}", "Leader: 0", "Replicas: 0"], line
    assert len(described) == 4

    kafka("kafka-topics", bootstrap, "--alter", "--topic", topic, "--partitions", "5")
    assert "PartitionCount: 5" in kafka("kafka-topics", bootstrap, "--describe", "--topic", topic)

    again = tool(TOOLS["kafka-topics"], "--bootstrap-server", bootstrap, "--create", "--topic", topic, "--partitions", "1")
    assert again.returncode == 1 and f"Topic '{topic}' already exists." in again.stdout, again

    kafka("kafka-topics", bootstrap, "--delete", "--topic", topic)
    assert topic not in kafka("kafka-topics", bootstrap, "--list").split()


def test_kafka_console_producer_consumer_and_consumer_groups(broker):
    bootstrap, _, _ = broker(**GROUP_BROKER)
    topic = unique_topic("tool-console")
    group = unique_topic("tool-console-group")
    kafka("kafka-topics", bootstrap, "--create", "--topic", topic, "--partitions", "1")
    lines = [f"key-{i}:value {i}" for i in range(20)]
    kafka("kafka-console-producer", bootstrap, "--topic", topic, "--reader-property", "parse.key=true",
          "--reader-property", "key.separator=:", input="\n".join(lines) + "\n")

    consumed = kafka("kafka-console-consumer", bootstrap, "--topic", topic, "--from-beginning", "--max-messages", "20",
                     "--group", group, "--formatter-property", "print.key=true", "--formatter-property", "print.offset=true",
                     "--formatter-property", "key.separator=|")
    assert consumed.splitlines() == [f"Offset:{i}|key-{i}|value {i}" for i in range(20)]

    assert group in kafka("kafka-consumer-groups", bootstrap, "--list").split()
    rows = table(kafka("kafka-consumer-groups", bootstrap, "--describe", "--group", group))
    assert rows[0][:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    # The console consumer commits what it printed when it stops.
    assert rows[1][:6] == [group, topic, "0", "20", "20", "0"], rows

    reset = table(kafka("kafka-consumer-groups", bootstrap, "--reset-offsets", "--group", group, "--topic", topic,
                        "--to-offset", "5", "--execute"))
    assert reset == [["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], [group, topic, "0", "5"]]
    rows = table(kafka("kafka-consumer-groups", bootstrap, "--describe", "--group", group))
    assert rows[1][:6] == [group, topic, "0", "5", "20", "15"], rows
    # The group resumes at offset 5.
    resumed = kafka("kafka-console-consumer", bootstrap, "--topic", topic, "--max-messages", "15", "--group", group)
    assert resumed.splitlines() == [f"value {i}" for i in range(5, 20)]

    deleted = kafka("kafka-consumer-groups", bootstrap, "--delete", "--group", group)
    assert f"Deletion of requested consumer groups ('{group}') was successful." in deleted
    assert group not in kafka("kafka-consumer-groups", bootstrap, "--list").split()


def test_kafka_configs_describes_adds_and_deletes_topic_configs(broker):
    bootstrap, _, _ = broker()
    topic = unique_topic("tool-configs")
    kafka("kafka-topics", bootstrap, "--create", "--topic", topic, "--partitions", "1", "--config", "retention.ms=123456")
    describe = ("--describe", "--entity-type", "topics", "--entity-name", topic)
    assert kafka("kafka-configs", bootstrap, *describe).splitlines() == [
        f"Dynamic configs for topic {topic} are:",
        # As Kafka: log.retention.ms has no default of its own (log.retention.hours has), so no
        # default synonym is listed.
        "  retention.ms=123456 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=123456}",
    ]
    altered = kafka("kafka-configs", bootstrap, "--alter", "--entity-type", "topics", "--entity-name", topic,
                    "--add-config", "retention.ms=1000,segment.bytes=2000000")
    assert altered.strip() == f"Completed updating config for topic {topic}."
    kafka("kafka-configs", bootstrap, "--alter", "--entity-type", "topics", "--entity-name", topic,
          "--delete-config", "retention.ms")
    assert kafka("kafka-configs", bootstrap, *describe).splitlines() == [
        f"Dynamic configs for topic {topic} are:",
        "  segment.bytes=2000000 sensitive=false "
        "synonyms={DYNAMIC_TOPIC_CONFIG:segment.bytes=2000000, DEFAULT_CONFIG:log.segment.bytes=1073741824}",
    ]
    everything = kafka("kafka-configs", bootstrap, *describe, "--all").splitlines()
    assert everything[0] == f"All configs for topic {topic} are:"
    assert "  retention.ms=604800000 sensitive=false synonyms={}" in everything
    assert "  cleanup.policy=delete sensitive=false synonyms={DEFAULT_CONFIG:log.cleanup.policy=delete}" in everything

    bad = tool(TOOLS["kafka-configs"], "--bootstrap-server", bootstrap, "--alter", "--entity-type", "topics",
               "--entity-name", topic, "--add-config", "retention.ms=soon")
    assert bad.returncode != 0 and "retention.ms" in bad.stdout + bad.stderr, bad


def test_kafka_perf_tests_and_get_offsets(broker):
    bootstrap, _, _ = broker(**GROUP_BROKER)
    topic = unique_topic("tool-perf")
    records, size = 20000, 100
    kafka("kafka-topics", bootstrap, "--create", "--topic", topic, "--partitions", "2")
    produced = tool_ok(TOOLS["kafka-producer-perf-test"], "--topic", topic, "--num-records", records,
                       "--record-size", size, "--throughput", "-1",
                       "--command-property", f"bootstrap.servers={bootstrap}", "acks=all")
    assert re.match(rf"{records} records sent, [\d.]+ records/sec", produced.splitlines()[-1]), produced

    latest = offsets(kafka("kafka-get-offsets", bootstrap, "--topic", topic))
    assert sorted(latest) == [0, 1] and sum(latest.values()) == records, latest
    assert offsets(kafka("kafka-get-offsets", bootstrap, "--topic", topic, "--time", "-1")) == latest
    assert offsets(kafka("kafka-get-offsets", bootstrap, "--topic", topic, "--time", "-2")) == {0: 0, 1: 0}
    assert offsets(kafka("kafka-get-offsets", bootstrap, "--topic", topic, "--partitions", "1")) == {1: latest[1]}

    consumed = kafka("kafka-consumer-perf-test", bootstrap, "--topic", topic, "--num-records", records,
                     "--timeout", "30000").splitlines()
    header = consumed[-2].split(", ")
    row = dict(zip(header, consumed[-1].split(", ")))
    assert row["data.consumed.in.nMsg"] == str(records), consumed
    assert row["data.consumed.in.MB"] == f"{records * size / 1024 / 1024:.4f}", consumed
