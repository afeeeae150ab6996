"""IncrementalAlterConfigs (key 44) and DescribeLogDirs (key 35) with real clients.

- confluent-kafka's AdminClient.incremental_alter_configs sets and deletes topic configs;
  describe_configs shows them (source DYNAMIC_TOPIC_CONFIG) before and after a restart;
  validate_only changes nothing.
- A lowered retention.bytes deletes old segments of the open log: the log start offset
  (ListOffsets, via get_watermark_offsets) moves past 0.
- Error cases: unknown key -> INVALID_CONFIG, unknown topic -> UNKNOWN_TOPIC_OR_PARTITION,
  APPEND on a non-list key -> INVALID_CONFIG, a BROKER resource -> INVALID_REQUEST, each
  with a message.
- kafka-python's KafkaAdminClient.describe_log_dirs (confluent-kafka 2.16 has no such call)
  reports, for every partition, a size at least the bytes produced to it.
- `millrace topic alter-config` alters a config and `millrace topic describe` shows a size.
"""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
)
from kafka import KafkaAdminClient

from clients import create_topic, new_consumer, new_producer, produce_all, quiet_config, unique_topic
from test_console_topic import cli, describe_fields

ADMIN_TIMEOUT_S = 30.0
RETENTION_TIMEOUT_S = 20.0
POLL_INTERVAL_S = 0.1


def alter(admin, resource_type, name, ops, validate_only=False):
    """incremental_alter_configs of one resource; ops are (key, value, AlterConfigOpType)."""
    entries = [ConfigEntry(key, value, incremental_operation=op) for key, value, op in ops]
    resource = ConfigResource(resource_type, name, incremental_configs=entries)
    futures = admin.incremental_alter_configs(
        [resource], validate_only=validate_only, request_timeout=ADMIN_TIMEOUT_S
    )
    return futures[resource].result(timeout=ADMIN_TIMEOUT_S)


def alter_error(admin, resource_type, name, ops):
    """The KafkaError an alteration fails with."""
    with pytest.raises(KafkaException) as failure:
        alter(admin, resource_type, name, ops)
    return failure.value.args[0]


def topic_configs(admin, topic):
    """{key: ConfigEntry} of DescribeConfigs on the topic."""
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    futures = admin.describe_configs([resource], request_timeout=ADMIN_TIMEOUT_S)
    return futures[resource].result(timeout=ADMIN_TIMEOUT_S)


def test_set_and_delete_show_in_describe_configs_and_survive_restart(broker):
    b = broker()
    topic = unique_topic("alter")
    create_topic(b.bootstrap, topic, 2)
    admin = AdminClient(quiet_config(b.bootstrap))
    default_retention_ms = topic_configs(admin, topic)["retention.ms"].value

    alter(admin, ConfigResource.Type.TOPIC, topic, [
        ("retention.ms", "3600000", AlterConfigOpType.SET),
        ("segment.bytes", "1048576", AlterConfigOpType.SET),
        ("cleanup.policy", "compact", AlterConfigOpType.APPEND),
    ])
    configs = topic_configs(admin, topic)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["segment.bytes"].value == "1048576"
    assert configs["cleanup.policy"].value == "delete,compact"

    # validate_only checks but changes nothing.
    alter(admin, ConfigResource.Type.TOPIC, topic,
          [("retention.ms", "1000", AlterConfigOpType.SET)], validate_only=True)
    assert topic_configs(admin, topic)["retention.ms"].value == "3600000"

    b.restart()
    admin = AdminClient(quiet_config(b.bootstrap))
    configs = topic_configs(admin, topic)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    alter(admin, ConfigResource.Type.TOPIC, topic, [("retention.ms", None, AlterConfigOpType.DELETE)])
    configs = topic_configs(admin, topic)
    assert configs["retention.ms"].value == default_retention_ms
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["segment.bytes"].value == "1048576"


def log_start_offset(consumer, topic, partition):
    low, _high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    return low


def test_lowered_retention_bytes_deletes_old_segments(broker):
    b = broker()
    topic = unique_topic("retention")
    # Small segments so that every flushed round below rolls a new one.
    create_topic(b.bootstrap, topic, 1, config={"segment.bytes": "4096"})
    producer = new_producer(b.bootstrap, **{"linger.ms": 0})
    for round_index in range(12):
        produce_all(producer, topic, [(None, bytes([round_index]) * 1000) for _ in range(5)], partition=0)
    consumer = new_consumer(b.bootstrap)
    try:
        assert log_start_offset(consumer, topic, 0) == 0
        admin = AdminClient(quiet_config(b.bootstrap))
        alter(admin, ConfigResource.Type.TOPIC, topic, [("retention.bytes", "8192", AlterConfigOpType.SET)])
        deadline = time.monotonic() + RETENTION_TIMEOUT_S
        start = 0
        while time.monotonic() < deadline:
            start = log_start_offset(consumer, topic, 0)
            if start > 0:
                break
            time.sleep(POLL_INTERVAL_S)
        assert start > 0, "retention.bytes=8192 did not delete any segment"
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        assert high == 60 and start < high
    finally:
        consumer.close()


def test_errors_name_the_problem(broker):
    b = broker()
    topic = unique_topic("alter-errors")
    create_topic(b.bootstrap, topic, 1)
    admin = AdminClient(quiet_config(b.bootstrap))
    topic_type = ConfigResource.Type.TOPIC

    unknown_key = alter_error(admin, topic_type, topic, [("retention.mss", "1", AlterConfigOpType.SET)])
    assert unknown_key.code() == KafkaError.INVALID_CONFIG
    assert "retention.mss" in unknown_key.str()

    bad_value = alter_error(admin, topic_type, topic, [("retention.ms", "soon", AlterConfigOpType.SET)])
    assert bad_value.code() == KafkaError.INVALID_CONFIG
    assert "retention.ms" in bad_value.str()

    not_a_list = alter_error(admin, topic_type, topic, [("retention.ms", "5", AlterConfigOpType.APPEND)])
    assert not_a_list.code() == KafkaError.INVALID_CONFIG
    assert "append" in not_a_list.str()

    missing = alter_error(admin, topic_type, unique_topic("missing"),
                          [("retention.ms", "5", AlterConfigOpType.SET)])
    assert missing.code() == KafkaError.UNKNOWN_TOPIC_OR_PART

    broker_config = alter_error(admin, ConfigResource.Type.BROKER, "0",
                                [("log.retention.ms", "5", AlterConfigOpType.SET)])
    assert broker_config.code() == KafkaError.INVALID_REQUEST
    assert "broker configs" in broker_config.str()

    # Nothing of the refused changes was applied.
    assert topic_configs(admin, topic)["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


def test_describe_log_dirs_reports_partition_sizes(broker):
    b = broker(**{"num.shards": 2})
    topic = unique_topic("logdirs")
    partitions = 4
    create_topic(b.bootstrap, topic, partitions)
    producer = new_producer(b.bootstrap)
    produced = {}
    for partition in range(partitions):
        values = [bytes([partition]) * 300 for _ in range(10 * (partition + 1))]
        produce_all(producer, topic, [(None, v) for v in values], partition=partition)
        produced[partition] = sum(len(v) for v in values)

    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)
    try:
        for asked in (None, [topic]):
            answers = admin.describe_log_dirs(topic_partitions=asked)
            assert len(answers) == 1, answers
            dirs = answers[0]["log_dirs"]
            assert len(dirs) == 1, dirs
            log_dir = dirs[0]
            assert log_dir["error_code"] == 0
            assert log_dir["log_dir"] == str(b.data_dir)
            # v4 (kafka-python asks for it): the volume's bytes, from statvfs.
            assert log_dir["total_bytes"] >= log_dir["usable_bytes"] > 0, log_dir
            sizes = {
                p["partition_index"]: p
                for t in log_dir["topics"] if t["name"] == topic
                for p in t["partitions"]
            }
            assert sorted(sizes) == list(range(partitions)), log_dir
            for partition, answer in sizes.items():
                assert answer["partition_size"] >= produced[partition], (partition, answer)
                assert answer["offset_lag"] == 0 and answer["is_future_key"] is False
    finally:
        admin.close()


def test_console_tool_alters_configs_and_shows_sizes(broker):
    b = broker()
    topic = unique_topic("console-alter")
    assert cli(b.bootstrap, "topic", "create", topic, "--partitions", "2").returncode == 0
    produce_all(new_producer(b.bootstrap), topic, [(None, b"x" * 500) for _ in range(4)], partition=1)

    altered = cli(b.bootstrap, "topic", "alter-config", topic,
                  "--set", "retention.ms=7200000", "--set", "flush.messages=10")
    assert altered.returncode == 0, altered.stderr
    assert f"Altered 2 config(s) of topic {topic}" in altered.stdout

    described = cli(b.bootstrap, "topic", "describe", topic)
    assert described.returncode == 0, described.stderr
    lines = described.stdout.splitlines()
    configs = describe_fields(lines[0])["Configs"].split(",")
    assert "retention.ms=7200000" in configs and "flush.messages=10" in configs, lines[0]
    rows = {int(f["Partition"]): f for f in map(describe_fields, lines[1:])}
    assert int(rows[0]["Size"]) == 0, rows[0]
    assert int(rows[1]["Size"]) >= 4 * 500, rows[1]

    refused = cli(b.bootstrap, "topic", "alter-config", topic, "--set", "retention.mss=1")
    assert refused.returncode == 1
    assert "retention.mss" in refused.stderr, refused.stderr
    deleted = cli(b.bootstrap, "topic", "alter-config", topic, "--delete", "retention.ms")
    assert deleted.returncode == 0, deleted.stderr
    header = describe_fields(cli(b.bootstrap, "topic", "describe", topic).stdout.splitlines()[0])
    assert "retention.ms=7200000" not in header["Configs"].split(","), header
