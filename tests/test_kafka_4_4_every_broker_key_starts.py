"""Issue 12: a server.properties may set any broker key of Kafka 4.4, and millrace starts.

The keys are Kafka's own (tests/fixtures/kafka-broker-keys/kafka-4.4.0.tsv, generated from Kafka
4.4.0's jars; its header says how). A file setting every one of them at Kafka's default, plus the
KRaft keys a single node needs, starts `millrace serve`, serves a produce and a consume with
confluent-kafka, and logs one line per accepted-and-ignored key, saying why. A key whose value
would ask for TLS, SASL or an authorizer is refused naming the key (ignoring it would leave the
operator believing traffic is encrypted or authenticated), and a mistyped key is still an error.
The Kafka keys millrace honours since (delete.topic.enable, offset.metadata.max.bytes) take
effect.

Kafka's default is what its ConfigDef holds; a key whose default is null is written empty, bar
the INT, LONG and CLASS keys, which Kafka itself cannot take empty (their only default form is
absence)."""

import re
from pathlib import Path

import pytest

from clients import assert_round_trip, create_topic, group_consumer, quiet_config, unique_topic
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from kraft_files import file_broker, serve_refused, two_ports  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(300)
KAFKA_KEYS = Path(__file__).resolve().parent / "fixtures" / "kafka-broker-keys" / "kafka-4.4.0.tsv"
NULL, REQUIRED = "<null>", "<none>"
# Types whose parser refuses an empty value in Kafka itself.
NOT_EMPTY_TYPES = {"INT", "LONG", "CLASS", "SHORT", "DOUBLE", "BOOLEAN"}
EXIT_USAGE = 2
MESSAGES = 200
PARTITIONS = 2
ADMIN_TIMEOUT_S = 30
METADATA_MAX = 10
IGNORED_LINE = re.compile(r"configuration key (\S+) is accepted and ignored: (.+)$")


def kafka_keys():
    """[(name, type, default)] of every Kafka 4.4 broker key."""
    rows = []
    for line in KAFKA_KEYS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, kind, default = line.split("\t")
            rows.append((name, kind, default))
    assert len(rows) > 300, len(rows)
    return rows


def every_key_at_kafkas_default():
    """`key=default` lines; the keys left out (Kafka requires or cannot write them)."""
    lines, left_out = [], []
    for name, kind, default in kafka_keys():
        if default == REQUIRED or (default == NULL and kind in NOT_EMPTY_TYPES):
            left_out.append(name)
        else:
            lines.append(f"{name}={'' if default == NULL else default}")
    return lines, left_out


def single_node_lines(data_dir, client_port, controller_port):
    """The KRaft keys a single node needs (Kafka requires process.roles, node.id and
    controller.listener.names), written after the defaults so they win."""
    return [
        "process.roles=broker,controller",
        "node.id=1",
        "controller.listener.names=CONTROLLER",
        f"controller.quorum.voters=1@localhost:{controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{client_port}",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        # One node: the offsets partitions cannot have Kafka's default 3 replicas.
        "offsets.topic.replication.factor=1",
    ]


def write_file(tmp_path, lines):
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    config_file = tmp_path / "server.properties"
    config_file.write_text("".join(f"{line}\n" for line in lines))
    return config_file, data_dir


def test_every_kafka_broker_key_at_its_default_starts_and_serves(tmp_path, file_broker):  # noqa: F811
    defaults, left_out = every_key_at_kafkas_default()
    assert len(left_out) < 25, left_out
    client_port, controller_port = two_ports()
    data_dir = tmp_path / "data"
    config_file, _ = write_file(tmp_path, [*defaults, *single_node_lines(data_dir, client_port, controller_port)])
    broker = file_broker(config_file, client_port, data_dir)

    assert_round_trip(broker.bootstrap, unique_topic("every-kafka-key"), PARTITIONS, MESSAGES)

    broker.stop()
    logged = {}
    for line in broker.stderr_tail(limit=2_000_000).splitlines():
        found = IGNORED_LINE.search(line)
        if found:
            logged.setdefault(found[1], []).append(found[2])
    # One line per ignored key, with a reason; only keys the file sets.
    assert all(len(reasons) == 1 and reasons[0].strip() for reasons in logged.values()), {
        key: reasons for key, reasons in logged.items() if len(reasons) != 1}
    written = {line.split("=", 1)[0] for line in defaults}
    assert set(logged) <= written, sorted(set(logged) - written)
    for key in ["num.replica.fetchers", "metric.reporters", "queued.max.requests", "log.roll.jitter.hours",
                "ssl.keystore.type", "sasl.enabled.mechanisms", "authorizer.class.name", "principal.builder.class",
                "transaction.state.log.num.partitions", "group.share.max.size", "remote.log.storage.system.enable"]:
        assert key in logged, key
    # Keys millrace honours are not among them.
    for key in ["num.partitions", "socket.request.max.bytes", "group.initial.rebalance.delay.ms",
                "offsets.topic.num.partitions", "auto.create.topics.enable", "connections.max.idle.ms",
                "delete.topic.enable", "group.max.size", "offset.metadata.max.bytes"]:
        assert key not in logged, key


@pytest.mark.parametrize(
    "line",
    [
        "ssl.keystore.location=/etc/kafka/secrets/broker.keystore.jks",
        "ssl.client.auth=required",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "security.inter.broker.protocol=SASL_SSL",
    ],
)
def test_a_tls_sasl_or_authorizer_key_away_from_kafkas_default_is_refused_naming_it(tmp_path, line):
    client_port, controller_port = two_ports()
    data_dir = tmp_path / "data"
    config_file, _ = write_file(tmp_path, [*single_node_lines(data_dir, client_port, controller_port), line])
    code, stderr = serve_refused(config_file)
    key = line.split("=", 1)[0]
    assert code == EXIT_USAGE, stderr
    assert f"{key} is refused" in stderr, stderr
    # The value is not echoed (it may be a secret).
    assert line.split("=", 1)[1] not in stderr, stderr


def test_a_non_plaintext_client_listener_is_still_refused(tmp_path):
    client_port, controller_port = two_ports()
    data_dir = tmp_path / "data"
    lines = single_node_lines(data_dir, client_port, controller_port)
    lines.append("listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:SSL")
    config_file, _ = write_file(tmp_path, lines)
    code, stderr = serve_refused(config_file)
    assert code == EXIT_USAGE, stderr
    assert "listener.security.protocol.map" in stderr and "SSL" in stderr, stderr


def refused_single_node_with(tmp_path, line):
    """Starts a single node whose file adds `line`, expecting a usage error; its stderr."""
    client_port, controller_port = two_ports()
    lines = [*single_node_lines(tmp_path / "data", client_port, controller_port), line]
    config_file, _ = write_file(tmp_path, lines)
    code, stderr = serve_refused(config_file)
    assert code == EXIT_USAGE, stderr
    return stderr


def test_a_mistyped_key_is_still_an_error(tmp_path):
    stderr = refused_single_node_with(tmp_path, "log.retention.hourz=24")
    assert 'unknown config key "log.retention.hourz"' in stderr, stderr
    assert "did you mean log.retention.hours?" in stderr, stderr


def test_broker_id_differing_from_node_id_is_refused_as_kafka_does(tmp_path):
    """Kafka refuses a file whose broker.id (the old name) and node.id name different ids:
    starting as either one would let a file that says broker 9 run node 1. (broker.id=-1,
    Kafka's default, is taken as unset: the every-key test above writes it beside node.id=1,
    which Kafka itself would refuse.)"""
    stderr = refused_single_node_with(tmp_path, "broker.id=9")
    assert "broker.id: is 9 but node.id is 1" in stderr, stderr


def test_kafka_keys_millrace_now_honours_take_effect(tmp_path, file_broker):  # noqa: F811
    """delete.topic.enable=false refuses DeleteTopics as Kafka's controller does, and
    offset.metadata.max.bytes bounds a commit's metadata (OFFSET_METADATA_TOO_LARGE past it)."""
    client_port, controller_port = two_ports()
    data_dir = tmp_path / "data"
    lines = [*single_node_lines(data_dir, client_port, controller_port),
             "delete.topic.enable=false", f"offset.metadata.max.bytes={METADATA_MAX}"]
    config_file, _ = write_file(tmp_path, lines)
    broker = file_broker(config_file, client_port, data_dir)
    topic = unique_topic("kept")
    create_topic(broker.bootstrap, topic, 1)

    admin = AdminClient(quiet_config(broker.bootstrap))
    with pytest.raises(KafkaException) as refused:
        admin.delete_topics([topic], operation_timeout=ADMIN_TIMEOUT_S)[topic].result(timeout=ADMIN_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.TOPIC_DELETION_DISABLED, refused.value
    assert topic in admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics

    consumer = group_consumer(broker.bootstrap, unique_topic("metadata-group"))
    try:
        # confluent-kafka sends a metadata string with its NUL terminator: n characters are n + 1 bytes.
        assert commit_errors(consumer, topic, "m" * (METADATA_MAX - 1)) == []
        assert commit_errors(consumer, topic, "m" * METADATA_MAX) == [KafkaError.OFFSET_METADATA_TOO_LARGE]
    finally:
        consumer.close()


def commit_errors(consumer, topic, metadata):
    """The error codes of a synchronous commit of offset 0 of partition 0 with `metadata`
    (librdkafka raises a partition's error or returns it, depending on the version)."""
    try:
        committed = consumer.commit(offsets=[TopicPartition(topic, 0, 0, metadata)], asynchronous=False)
    except KafkaException as failed:
        return [failed.args[0].code()]
    return [tp.error.code() for tp in committed if tp.error]
