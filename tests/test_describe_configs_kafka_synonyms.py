"""DescribeConfigs answers as Apache Kafka 4.4 builds them, checked with Kafka's Java AdminClient,
kafka-configs, confluent-kafka and aiokafka against a millrace broker started with a
server.properties, and against Apache Kafka itself where both leave a key at Kafka's default:

- a BROKER resource lists the broker-level defaults of topic keys (compression.type,
  log.cleanup.policy, log.cleaner.*...), and a Kafka server.properties setting them loads and sets
  the default of every topic that does not set the key;
- KIP-226 synonyms of the retention, roll and flush families are Kafka's (static values in
  family order, then defaults, dropped up to the described key: log.retention.hours=168 is the
  default, log.retention.ms has none);
- an empty list of config names asks for every config, as no list does;
- a topic key left to a broker key set in the file has source STATIC_BROKER_CONFIG."""

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DescribeConfigsRequest
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

from java_clients import driver, tool_ok
from test_describe_configs_broker_lists_its_own_keys import FileBroker

pytestmark = pytest.mark.timeout(300)
NODE_ID = 1
BASE_FILE = f"node.id={NODE_ID}\noffsets.topic.replication.factor=1\n"
KAFKA_CONFIGS = "org.apache.kafka.tools.ConfigCommand"
REQUEST_TIMEOUT_S = 30
RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4
ERROR_NONE = 0
# Broker-level defaults of topic keys, left at Kafka's default on both brokers.
TOPIC_DEFAULT_KEYS = [
    "compression.type", "compression.gzip.level", "compression.lz4.level", "compression.zstd.level",
    "log.cleanup.policy", "log.cleaner.delete.retention.ms", "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms",
    "log.segment.delete.delay.ms", "log.preallocate", "log.index.size.max.bytes",
    "log.message.timestamp.type", "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms", "log.local.retention.ms", "log.local.retention.bytes",
]
# Keys of Kafka's retention, roll and flush synonym families.
# Kafka can change these at runtime (cluster-wide dynamic configs); millrace changes no broker key
# at runtime, so its entries are read-only and everything else must be Kafka's.
READ_ONLY = "readOnly"
FAMILY_KEYS = ["log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.roll.ms",
               "log.roll.hours", "log.flush.interval.ms"]


# Keys the two test brokers set differently (listeners, ids: node.id and broker.id, which Kafka
# copies from it, KRaft roles, the data directory, Kafka's formatted dynamic default of
# min.insync.replicas), and millrace's known difference: log.dir's default is the directory
# millrace uses, /tmp/millrace-logs (Kafka's /tmp/kafka-logs). These four keys are checked
# against Kafka's answers in test_describe_configs_broker_ids_and_log_dirs_as_kafka.py.
NOT_COMPARED = {
    "listeners", "advertised.listeners", "controller.listener.names",
    "controller.quorum.bootstrap.servers", "inter.broker.listener.name",
    "listener.security.protocol.map", "process.roles", "log.dirs", "node.id",
    "group.initial.rebalance.delay.ms", "min.insync.replicas", "log.dir", "broker.id",
}


def start_broker(tmp_path, extra):
    config_file = tmp_path / "server.properties"
    config_file.write_text(BASE_FILE + extra)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return FileBroker(data_dir, tmp_path / "stderr.log", config_file).start()


@pytest.fixture
def default_broker(tmp_path):
    broker = start_broker(tmp_path, "")
    try:
        yield broker
    finally:
        broker.kill()


def kafka_configs_all(bootstrap, broker_id):
    return tool_ok(KAFKA_CONFIGS, "--bootstrap-server", bootstrap, "--describe", "--entity-type",
                   "brokers", "--entity-name", broker_id, "--all").splitlines()


def without_read_only(entry):
    return {name: value for name, value in entry.items() if name != READ_ONLY}


def lines_of(output, key):
    return [line for line in output if line.startswith(f"  {key}=")]


def both_answers(default_broker, apache_kafka):
    """kafka-configs --all lines and the Java AdminClient's broker configs, from millrace and
    from Kafka."""
    return (kafka_configs_all(default_broker.bootstrap, str(NODE_ID)),
            kafka_configs_all(apache_kafka.bootstrap, "0"),
            driver("broker-configs", bootstrap=default_broker.bootstrap, broker=NODE_ID)["configs"],
            driver("broker-configs", bootstrap=apache_kafka.bootstrap, broker=0)["configs"])


def test_broker_defaults_of_topic_keys_are_listed_as_kafka(default_broker, apache_kafka):
    millrace, kafka, java_millrace, java_kafka = both_answers(default_broker, apache_kafka)
    assert lines_of(kafka, "compression.type") == [
        "  compression.type=producer sensitive=false synonyms={DEFAULT_CONFIG:compression.type=producer}"]
    for key in TOPIC_DEFAULT_KEYS:
        assert lines_of(millrace, key) == lines_of(kafka, key), key
    for key in TOPIC_DEFAULT_KEYS:
        assert java_millrace[key][READ_ONLY], key
    # Every key both brokers have, whole (but read-only), is Kafka's.
    shared = (set(java_millrace) & set(java_kafka)) - NOT_COMPARED
    assert set(TOPIC_DEFAULT_KEYS) | set(FAMILY_KEYS) <= shared
    for key in sorted(shared):
        assert without_read_only(java_millrace[key]) == without_read_only(java_kafka[key]), key


def test_retention_roll_and_flush_synonyms_are_kafkas(default_broker, apache_kafka):
    millrace, kafka, java_millrace, java_kafka = both_answers(default_broker, apache_kafka)
    assert lines_of(kafka, "log.retention.hours") == [
        "  log.retention.hours=168 sensitive=false synonyms={DEFAULT_CONFIG:log.retention.hours=168}"]
    for key in FAMILY_KEYS:
        assert lines_of(millrace, key) == lines_of(kafka, key), key
    for key in FAMILY_KEYS:
        assert without_read_only(java_millrace[key]) == without_read_only(java_kafka[key]), key


def test_set_retention_keys_list_the_coarsest_default(tmp_path):
    broker = start_broker(tmp_path, "log.retention.ms=5\nlog.retention.minutes=2\nlog.roll.hours=24\n")
    try:
        configs = driver("broker-configs", bootstrap=broker.bootstrap, broker=NODE_ID)["configs"]
    finally:
        broker.kill()
    assert configs["log.retention.ms"]["synonyms"] == [
        ["log.retention.ms", "5", "STATIC_BROKER_CONFIG"],
        ["log.retention.minutes", "2", "STATIC_BROKER_CONFIG"],
        ["log.retention.hours", "168", "DEFAULT_CONFIG"],
    ]
    hours = configs["log.retention.hours"]
    assert (hours["value"], hours["source"], hours["synonyms"]) == (
        "168", "DEFAULT_CONFIG", [["log.retention.hours", "168", "DEFAULT_CONFIG"]])
    assert configs["log.roll.hours"]["synonyms"] == [
        ["log.roll.hours", "24", "STATIC_BROKER_CONFIG"], ["log.roll.hours", "168", "DEFAULT_CONFIG"]]
    roll_ms = configs["log.roll.ms"]
    assert (roll_ms["value"], roll_ms["source"], roll_ms["synonyms"]) == (None, "DEFAULT_CONFIG", [])


def test_an_empty_list_of_names_asks_for_every_config(default_broker):
    topic = "empty-names"
    admin = AdminClient({"bootstrap.servers": default_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=REQUEST_TIMEOUT_S)

    async def describe(resource_type, name, names):
        admin = AIOKafkaAdminClient(bootstrap_servers=default_broker.bootstrap)
        await admin.start()
        try:
            request = DescribeConfigsRequest([(resource_type, name, names)], include_synonyms=True)
            response = await admin._client.send(NODE_ID, request)
            (resource,) = response.resources
            assert (resource[0], resource[3]) == (ERROR_NONE, name), resource
            return {entry[0] for entry in resource[4]}
        finally:
            await admin.close()

    for resource_type, name in [(RESOURCE_TOPIC, topic), (RESOURCE_BROKER, str(NODE_ID))]:
        every = asyncio.run(describe(resource_type, name, None))
        assert len(every) > 20, every
        assert asyncio.run(describe(resource_type, name, [])) == every, name


def describe_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=REQUEST_TIMEOUT_S)
    resource = ConfigResource("topic", topic)
    return admin.describe_configs([resource])[resource].result(timeout=REQUEST_TIMEOUT_S)


def synonyms_of(entry):
    return [(s.name, s.value, s.source) for s in entry.synonyms.values()]


def test_a_topic_key_left_to_a_static_broker_key_is_static(tmp_path):
    broker = start_broker(tmp_path, "log.retention.ms=5\n")
    try:
        configs = describe_topic(broker.bootstrap, "static-default")
    finally:
        broker.kill()
    static, default = ConfigSource.STATIC_BROKER_CONFIG.value, ConfigSource.DEFAULT_CONFIG.value
    retention = configs["retention.ms"]
    assert (retention.value, retention.source) == ("5", static)
    assert synonyms_of(retention) == [("log.retention.ms", "5", static),
                                      ("log.retention.hours", "168", default)]
    assert configs["segment.bytes"].source == default


def test_a_kafka_server_properties_with_topic_defaults_loads(tmp_path):
    extra = "log.cleanup.policy=delete\ncompression.type=gzip\nlog.cleaner.min.cleanable.ratio=0.5\n"
    broker = start_broker(tmp_path, extra)
    try:
        configs = describe_topic(broker.bootstrap, "follows-broker")
        java = driver("broker-configs", bootstrap=broker.bootstrap, broker=NODE_ID)["configs"]
    finally:
        broker.kill()
    static = ConfigSource.STATIC_BROKER_CONFIG.value
    compression = configs["compression.type"]
    assert (compression.value, compression.source) == ("gzip", static)
    assert (configs["min.cleanable.dirty.ratio"].value, configs["min.cleanable.dirty.ratio"].source) == ("0.5", static)
    assert java["compression.type"] == {
        "value": "gzip", "source": "STATIC_BROKER_CONFIG", "type": "STRING", "readOnly": True,
        "sensitive": False, "documented": True,
        "synonyms": [["compression.type", "gzip", "STATIC_BROKER_CONFIG"],
                     ["compression.type", "producer", "DEFAULT_CONFIG"]],
    }
    assert java["log.cleanup.policy"]["source"] == "STATIC_BROKER_CONFIG"
