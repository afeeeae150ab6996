"""DescribeConfigs of a BROKER resource lists every key the broker's config parser takes (the
keys `millrace --help` prints), as Apache Kafka lists its own: the value set in the config file
with source STATIC_BROKER_CONFIG, else the default with DEFAULT_CONFIG, all read-only (millrace
changes no broker key at runtime), with KIP-226 synonyms, Kafka's type and documentation.

Checked with confluent-kafka's AdminClient, aiokafka (a request naming keys), Kafka's own
kafka-configs tool and Kafka's Java AdminClient, the last two also against Apache Kafka itself
for keys both brokers share (the `apache_kafka` fixture: Kafka sets
offsets.topic.replication.factor=1 in its file, as the millrace broker here does)."""

import asyncio
import subprocess

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource as AioConfigResource
from aiokafka.admin.config_resource import ConfigResourceType
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource

from conftest import BROKER_BINARY, Broker
from java_clients import driver, tool_ok

pytestmark = pytest.mark.timeout(300)
NODE_ID = 1
CONFIG_FILE = (
    f"node.id={NODE_ID}\n"
    "replica.lag.time.max.ms=12345\n"
    "num.partitions=3\n"
    "offsets.topic.replication.factor=1\n"
    "num.io.threads=8\n"
)
KAFKA_CONFIGS = "org.apache.kafka.tools.ConfigCommand"
# Keys both brokers leave at Kafka's default or set alike, whose whole answer (value, source,
# type, read-only, sensitive, synonyms) must be Kafka's.
SHARED_KEYS = [
    "offsets.topic.replication.factor",
    "default.replication.factor",
    "auto.create.topics.enable",
    "group.min.session.timeout.ms",
]
ERROR_NONE = 0
REQUEST_TIMEOUT_S = 30


class FileBroker(Broker):
    """A broker started as `millrace serve FILE --override ...`: keys set in the file."""

    def __init__(self, data_dir, stderr_path, config_file):
        super().__init__(data_dir, stderr_path, {})
        self.config_file = config_file

    def command(self):
        command = super().command()
        return [*command[:2], str(self.config_file), *command[2:]]


@pytest.fixture
def file_broker(tmp_path):
    config_file = tmp_path / "server.properties"
    config_file.write_text(CONFIG_FILE)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    broker = FileBroker(data_dir, tmp_path / "stderr.log", config_file)
    try:
        yield broker.start()
    finally:
        broker.kill()


def parser_keys():
    """The keys the broker's parser takes, as `millrace serve --help` prints them."""
    text = subprocess.run([str(BROKER_BINARY), "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    lines = text.split("Configuration keys:\n", 1)[1].splitlines()
    assert lines[0].split()[:3] == ["KEY", "DEFAULT", "MEANING"], lines[0]
    keys = []
    for line in lines[1:]:
        if not line.strip():
            break
        if not line.startswith(" "):
            keys.append(line.split()[0])
    return keys


def test_confluent_admin_describes_every_key_with_its_source(file_broker):
    admin = AdminClient({"bootstrap.servers": file_broker.bootstrap})
    resource = ConfigResource("broker", str(NODE_ID))
    configs = admin.describe_configs([resource])[resource].result(timeout=REQUEST_TIMEOUT_S)

    expected = set(parser_keys()) | {"num.io.threads"}
    assert set(configs) == expected, (sorted(expected - set(configs)), sorted(set(configs) - expected))
    for key in ["replica.lag.time.max.ms", "num.partitions", "default.replication.factor", "min.insync.replicas",
                "auto.create.topics.enable", "log.dirs", "node.id", "broker.id", "listeners", "advertised.listeners",
                "controller.quorum.voters", "process.roles", "num.shards", "log.recent.memory.available.min.bytes"]:
        assert key in configs, key

    def seen(key):
        entry = configs[key]
        return entry.value, entry.source, entry.is_default, entry.is_read_only, entry.is_sensitive

    static, default = ConfigSource.STATIC_BROKER_CONFIG.value, ConfigSource.DEFAULT_CONFIG.value
    assert seen("replica.lag.time.max.ms") == ("12345", static, False, True, False)
    assert seen("num.partitions") == ("3", static, False, True, False)
    assert seen("node.id") == (str(NODE_ID), static, False, True, False)
    assert seen("num.io.threads") == ("8", static, False, True, False)
    assert seen("default.replication.factor") == ("1", default, True, True, False)
    assert seen("log.recent.memory.available.min.bytes") == ("-1", default, True, True, False)
    # Not set, but Kafka copies node.id to it (KafkaConfig.populateSynonyms): set as node.id.
    assert seen("broker.id") == (str(NODE_ID), static, False, True, False)
    assert all(entry.is_read_only and not entry.is_sensitive for entry in configs.values())
    assert configs["log.dirs"].value == str(file_broker.data_dir)


def test_aiokafka_names_keys_and_unknown_ones_are_left_out(file_broker):
    async def body():
        admin = AIOKafkaAdminClient(bootstrap_servers=file_broker.bootstrap)
        await admin.start()
        try:
            wanted = {"num.partitions": None, "no.such.key": None, "retention.ms": None}
            resource = AioConfigResource(ConfigResourceType.BROKER, str(NODE_ID), configs=wanted)
            (response,) = await admin.describe_configs([resource], include_synonyms=True)
            return response.resources
        finally:
            await admin.close()

    (resource,) = asyncio.run(body())
    error_code, _, _, name, configs = resource
    assert (error_code, name) == (ERROR_NONE, str(NODE_ID))
    assert [entry[0] for entry in configs] == ["num.partitions"], configs
    assert configs[0][1] == "3"


def test_kafka_configs_tool_and_java_admin_answer_as_apache_kafka(file_broker, apache_kafka):
    def all_configs(bootstrap, broker_id):
        return tool_ok(KAFKA_CONFIGS, "--bootstrap-server", bootstrap, "--describe",
                       "--entity-type", "brokers", "--entity-name", broker_id, "--all").splitlines()

    millrace = all_configs(file_broker.bootstrap, str(NODE_ID))
    assert millrace[0] == f"All configs for broker {NODE_ID} are:"
    assert ("  replica.lag.time.max.ms=12345 sensitive=false synonyms={STATIC_BROKER_CONFIG:replica.lag.time.max.ms"
            "=12345, DEFAULT_CONFIG:replica.lag.time.max.ms=30000}") in millrace
    assert "  num.partitions=3 sensitive=false synonyms={STATIC_BROKER_CONFIG:num.partitions=3, DEFAULT_CONFIG:num.partitions=1}" in millrace
    kafka = all_configs(apache_kafka.bootstrap, "0")
    for key in SHARED_KEYS:
        lines = [[line for line in output if line.startswith(f"  {key}=")] for output in (millrace, kafka)]
        assert lines[0] == lines[1] and len(lines[0]) == 1, (key, lines)

    java_millrace = driver("broker-configs", bootstrap=file_broker.bootstrap, broker=NODE_ID)["configs"]
    java_kafka = driver("broker-configs", bootstrap=apache_kafka.bootstrap, broker=0)["configs"]
    for key in SHARED_KEYS:
        assert java_millrace[key] == java_kafka[key], key
    assert java_millrace["replica.lag.time.max.ms"] == {
        "value": "12345", "source": "STATIC_BROKER_CONFIG", "type": "LONG", "readOnly": True,
        "sensitive": False, "documented": True,
        "synonyms": [["replica.lag.time.max.ms", "12345", "STATIC_BROKER_CONFIG"],
                     ["replica.lag.time.max.ms", "30000", "DEFAULT_CONFIG"]],
    }
    # Kafka has no num.shards: millrace's own keys have a type and documentation too.
    assert java_millrace["num.shards"]["type"] == "INT" and java_millrace["num.shards"]["documented"]
    assert all(entry["readOnly"] for entry in java_millrace.values())
