"""Topic configs as Kafka 4.x documents them: every topic key is accepted by CreateTopics,
IncrementalAlterConfigs and AlterConfigs, checked with Kafka's rules (a bad value, an
unknown key, remote storage on a broker without it, or min.compaction.lag.ms above
max.compaction.lag.ms is INVALID_CONFIG), stored and reported by DescribeConfigs. The Kafka
3.x keys 4.0 removed (message.format.version...) are accepted too, and the broker logs that
it ignores them. Before, compression.type and min.cleanable.dirty.ratio were refused as
unknown, and AlterConfigs refused message.format.version."""

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
)

from clients import quiet_config, unique_topic

ADMIN_TIMEOUT_S = 30.0

# A valid value other than the default for every Kafka 4.x topic key, and the 3.x-only ones.
EVERY_KEY = {
    "cleanup.policy": "compact,delete",
    "compression.gzip.level": "5",
    "compression.lz4.level": "12",
    "compression.type": "zstd",
    "compression.zstd.level": "7",
    "delete.retention.ms": "3600000",
    "file.delete.delay.ms": "1000",
    "flush.messages": "1000000",
    "flush.ms": "60000",
    "follower.replication.throttled.replicas": "0:0",
    "index.interval.bytes": "8192",
    "leader.replication.throttled.replicas": "*",
    "local.retention.bytes": "1048576",
    "local.retention.ms": "60000",
    "max.compaction.lag.ms": "86400000",
    "max.message.bytes": "2097152",
    "message.timestamp.after.max.ms": "60000",
    "message.timestamp.before.max.ms": "86400000",
    "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.25",
    "min.compaction.lag.ms": "1000",
    "min.insync.replicas": "1",
    "preallocate": "true",
    "remote.log.copy.disable": "false",
    "remote.log.delete.on.disable": "false",
    "remote.storage.enable": "false",
    "retention.bytes": "1073741824",
    "retention.ms": "86400000",
    "segment.bytes": "104857600",
    "segment.index.bytes": "1048576",
    "segment.jitter.ms": "1000",
    "segment.ms": "3600000",
    "unclean.leader.election.enable": "false",
    "message.downconversion.enable": "false",
    # Removed in Kafka 4.0, accepted (and ignored) as 3.x did.
    "message.format.version": "2.8",
    "message.timestamp.difference.max.ms": "86400000",
}


def create(admin, topic, config, validate_only=False):
    futures = admin.create_topics([NewTopic(topic, 1, 1, config=config)], validate_only=validate_only,
                                  request_timeout=ADMIN_TIMEOUT_S)
    return futures[topic].result(timeout=ADMIN_TIMEOUT_S)


def create_error(admin, topic, config):
    with pytest.raises(KafkaException) as failure:
        create(admin, topic, config)
    return failure.value.args[0]


def describe(admin, topic):
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([resource], request_timeout=ADMIN_TIMEOUT_S)[resource].result(
        timeout=ADMIN_TIMEOUT_S)


def alter(admin, topic, ops):
    entries = [ConfigEntry(key, value, incremental_operation=op) for key, value, op in ops]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
    return admin.incremental_alter_configs([resource], request_timeout=ADMIN_TIMEOUT_S)[resource].result(
        timeout=ADMIN_TIMEOUT_S)


def alter_error(admin, topic, ops):
    with pytest.raises(KafkaException) as failure:
        alter(admin, topic, ops)
    return failure.value.args[0]


def legacy_alter(admin, topic, configs):
    """AlterConfigs (key 33): the listed keys are set, every other one returns to its default."""
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=configs)
    return admin.alter_configs([resource], request_timeout=ADMIN_TIMEOUT_S)[resource].result(
        timeout=ADMIN_TIMEOUT_S)


def test_create_topics_accepts_every_kafka_topic_key_and_describe_reports_them(broker):
    b = broker()
    admin = AdminClient(quiet_config(b.bootstrap))
    topic = unique_topic("every-key")
    create(admin, topic, EVERY_KEY)
    configs = describe(admin, topic)
    missing = sorted(set(EVERY_KEY) - set(configs))
    assert not missing, f"DescribeConfigs does not report {missing}"
    for key, value in EVERY_KEY.items():
        assert (configs[key].value, configs[key].source) == (value, ConfigSource.DYNAMIC_TOPIC_CONFIG.value), key

    b.restart()
    configs = describe(AdminClient(quiet_config(b.bootstrap)), topic)
    assert {key: configs[key].value for key in EVERY_KEY} == EVERY_KEY
    log = b.stderr_tail(limit=200_000)
    assert f"topic {topic}: configuration message.format.version is deprecated" in log, log[-3000:]


def test_alter_configs_both_apis_accept_the_keys_they_refused(broker):
    b = broker()
    admin = AdminClient(quiet_config(b.bootstrap))
    topic = unique_topic("alter-keys")
    create(admin, topic, {})
    defaults = describe(admin, topic)
    assert defaults["compression.type"].value == "producer"
    assert defaults["min.cleanable.dirty.ratio"].value == "0.5"
    assert defaults["message.timestamp.after.max.ms"].value == "3600000"

    alter(admin, topic, [
        ("compression.type", "lz4", AlterConfigOpType.SET),
        ("min.cleanable.dirty.ratio", "0.75", AlterConfigOpType.SET),
        ("leader.replication.throttled.replicas", "0:0", AlterConfigOpType.APPEND),
    ])
    configs = describe(admin, topic)
    assert configs["compression.type"].value == "lz4"
    assert configs["min.cleanable.dirty.ratio"].value == "0.75"
    assert configs["leader.replication.throttled.replicas"].value == "0:0"

    legacy_alter(admin, topic, {"message.format.version": "3.0-IV1", "compression.type": "gzip"})
    configs = describe(admin, topic)
    assert configs["message.format.version"].value == "3.0-IV1"
    assert configs["compression.type"].value == "gzip"
    assert configs["min.cleanable.dirty.ratio"].source == ConfigSource.DEFAULT_CONFIG.value, (
        "AlterConfigs resets what it does not list")


@pytest.mark.parametrize(
    "config, named",
    [
        ({"compression.type": "brotli"}, "compression.type"),
        ({"compression.gzip.level": "0"}, "compression.gzip.level"),
        ({"min.cleanable.dirty.ratio": "1.5"}, "min.cleanable.dirty.ratio"),
        ({"message.timestamp.type": "Whenever"}, "message.timestamp.type"),
        ({"message.format.version": "9.9"}, "message.format.version"),
        ({"preallocate": "maybe"}, "preallocate"),
        ({"follower.replication.throttled.replicas": "0-0"}, "follower.replication.throttled.replicas"),
        ({"remote.storage.enable": "true"}, "Tiered Storage"),
        ({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, "min.compaction.lag.ms"),
        ({"no.such.key": "1"}, "no.such.key"),
    ],
)
def test_values_kafka_refuses_are_invalid_config(broker, config, named):
    b = broker()
    admin = AdminClient(quiet_config(b.bootstrap))
    error = create_error(admin, unique_topic("bad-config"), config)
    assert error.code() == KafkaError.INVALID_CONFIG, error
    assert named in error.str(), error.str()

    topic = unique_topic("bad-alter")
    create(admin, topic, {})
    ops = [(key, value, AlterConfigOpType.SET) for key, value in config.items()]
    error = alter_error(admin, topic, ops)
    assert error.code() == KafkaError.INVALID_CONFIG, error
    assert describe(admin, topic)["compression.type"].source == ConfigSource.DEFAULT_CONFIG.value
