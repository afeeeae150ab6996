"""DescribeConfigs of a BROKER resource answers `broker.id`, `node.id`, `log.dir` and `log.dirs`
as Apache Kafka 4.4 does. Kafka's answers, asked of Kafka itself (perf/peers/kafka.sh, one KRaft
node, then `kafka-configs --describe --entity-type brokers --entity-name 1 --all` and the Java
AdminClient), once with node.id=1 and log.dirs=DIR, once with broker.id=1 and log.dir=DIR:

- `KafkaConfig.populateSynonyms` copies the one of node.id and broker.id that is set to the
  other, so both are STATIC_BROKER_CONFIG with the same value;
- broker.id's default is -1 (a DEFAULT_CONFIG synonym), node.id has none (Kafka requires it);
- the default directory is log.dir's (/tmp/kafka-logs); log.dirs has no default: unset, it shows
  no value, no synonym, even when log.dir is set (they are not synonyms of each other);
- every one read-only, INT for the ids, LIST for the directories.

Before: broker.id showed no value (DEFAULT_CONFIG) when node.id was set, node.id none when
broker.id was, log.dir none (DEFAULT_CONFIG), and node.id and log.dirs listed a DEFAULT_CONFIG
synonym (0, /tmp/millrace-logs) Kafka does not.

Known difference, kept (known_differences.txt style):
  broker-configs | log.dir value and DEFAULT_CONFIG synonym | by design | millrace's default data
  directory is /tmp/millrace-logs, Kafka's /tmp/kafka-logs: the answer names the directory the
  broker would use
  broker-configs | node.id with neither id set | by design | Kafka refuses to start without
  node.id; millrace runs as node 0 and shows node.id=0 (DEFAULT_CONFIG, synonym 0)
Checked with confluent-kafka's AdminClient (value, source, read-only) and Kafka's own kafka-configs
tool (every synonym in order: confluent-kafka keys synonyms by name)."""

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource

from conftest import Broker
from java_clients import tool_ok

pytestmark = pytest.mark.timeout(240)
NODE_ID = "1"
KEYS = ("broker.id", "node.id", "log.dir", "log.dirs")
KAFKA_CONFIGS = "org.apache.kafka.tools.ConfigCommand"
MILLRACE_DEFAULT_DIR = "/tmp/millrace-logs"
REQUEST_TIMEOUT_S = 30
STATIC, DEFAULT = ConfigSource.STATIC_BROKER_CONFIG.value, ConfigSource.DEFAULT_CONFIG.value


class LogDirBroker(Broker):
    """A broker given its data directory by log.dir, Kafka's older key, not log.dirs."""

    def command(self):
        command = super().command()
        at = command.index(f"log.dirs={self.data_dir}")
        command[at] = f"log.dir={self.data_dir}"
        return command


@pytest.fixture
def started(tmp_path):
    brokers = []

    def start(kind, overrides):
        data_dir = tmp_path / f"data{len(brokers)}"
        data_dir.mkdir()
        broker = kind(data_dir, tmp_path / f"stderr{len(brokers)}.log", overrides)
        brokers.append(broker)
        return broker.start()

    yield start
    for broker in brokers:
        broker.kill()


def described(bootstrap):
    """{key: (value, source, read-only)} of KEYS, through confluent-kafka."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource("broker", NODE_ID)
    configs = admin.describe_configs([resource])[resource].result(timeout=REQUEST_TIMEOUT_S)
    return {key: (configs[key].value, configs[key].source, configs[key].is_read_only) for key in KEYS}


def tool_lines(bootstrap):
    """{key: its kafka-configs line} of KEYS."""
    output = tool_ok(KAFKA_CONFIGS, "--bootstrap-server", bootstrap, "--describe",
                     "--entity-type", "brokers", "--entity-name", NODE_ID, "--all")
    lines = {line.strip().split("=", 1)[0]: line.strip() for line in output.splitlines()[1:]}
    return {key: lines.get(key) for key in KEYS}


def test_node_id_and_log_dirs_set(started):
    broker = started(Broker, {"node.id": NODE_ID})
    data = broker.data_dir

    assert described(broker.bootstrap) == {
        "broker.id": (NODE_ID, STATIC, True),
        "node.id": (NODE_ID, STATIC, True),
        "log.dir": (MILLRACE_DEFAULT_DIR, DEFAULT, True),
        "log.dirs": (str(data), STATIC, True),
    }
    assert tool_lines(broker.bootstrap) == {
        "broker.id": "broker.id=1 sensitive=false synonyms={STATIC_BROKER_CONFIG:broker.id=1, "
                     "DEFAULT_CONFIG:broker.id=-1}",
        "node.id": "node.id=1 sensitive=false synonyms={STATIC_BROKER_CONFIG:node.id=1}",
        "log.dir": f"log.dir={MILLRACE_DEFAULT_DIR} sensitive=false "
                   f"synonyms={{DEFAULT_CONFIG:log.dir={MILLRACE_DEFAULT_DIR}}}",
        "log.dirs": f"log.dirs={data} sensitive=false synonyms={{STATIC_BROKER_CONFIG:log.dirs={data}}}",
    }


def test_broker_id_and_log_dir_set(started):
    broker = started(LogDirBroker, {"broker.id": NODE_ID})
    data = broker.data_dir

    assert described(broker.bootstrap) == {
        "broker.id": (NODE_ID, STATIC, True),
        "node.id": (NODE_ID, STATIC, True),
        "log.dir": (str(data), STATIC, True),
        "log.dirs": (None, DEFAULT, True),
    }
    assert tool_lines(broker.bootstrap) == {
        "broker.id": "broker.id=1 sensitive=false synonyms={STATIC_BROKER_CONFIG:broker.id=1, "
                     "DEFAULT_CONFIG:broker.id=-1}",
        "node.id": "node.id=1 sensitive=false synonyms={STATIC_BROKER_CONFIG:node.id=1}",
        "log.dir": f"log.dir={data} sensitive=false synonyms={{STATIC_BROKER_CONFIG:log.dir={data}, "
                   f"DEFAULT_CONFIG:log.dir={MILLRACE_DEFAULT_DIR}}}",
        "log.dirs": "log.dirs=null sensitive=false synonyms={}",
    }
