"""Issue 12: Kafka 4.x's shipped KRaft config files start millrace unchanged (only ports and
log.dirs rewritten). The combined server.properties (static quorum of this node, and the 4.x
dynamic-quorum form) serves kcat and confluent-kafka: Metadata and
DescribeCluster show the file's node.id and advertised listener, records go round. Ignored keys
get one log line each saying why. controller.properties with broker.properties make a cluster
(test_kraft_split_roles_kafka_files.py). broker.properties (its controller is another node) and a
3-voter quorum whose other voters do not run are members of a cluster whose controllers cannot
be reached: refused once initial.broker.registration.timeout.ms passes, naming the key and the
controllers; a mistyped key is an error with a suggestion."""

import json
import shutil
import subprocess

import pytest

from clients import assert_round_trip, new_producer, produce_all, quiet_config, unique_topic
from confluent_kafka.admin import AdminClient, NewTopic
from kraft_files import file_broker, rewrite, serve_refused, two_ports  # noqa: F401 (fixture)

KCAT_TIMEOUT_S = 60
ADMIN_TIMEOUT_S = 30
MESSAGES = 500
PARTITIONS = 3
EXIT_USAGE = 2
# A cluster member none of whose controllers answer exits 1 after this registration timeout.
EXIT_REFUSED = 1
REGISTRATION_TIMEOUT_LINE = "initial.broker.registration.timeout.ms=3000"
# Keys of the shipped files that a single node accepts and ignores (one log line each).
IGNORED_IN_SHIPPED_FILES = [
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
]
# Kafka 4.x's config/server.properties names its quorum by bootstrap server (KIP-853) where
# the fixture (the same file before 4.0 moved it) lists the static voter.
KAFKA_4_QUORUM_LINE = {"controller.quorum.voters=1@localhost:9093": "controller.quorum.bootstrap.servers=localhost:9093"}

# (fixture, node.id, line replacements)
SERVED_FILES = {
    "server": ("server.properties", 1, None),
    "server-4x-bootstrap": ("server.properties", 1, KAFKA_4_QUORUM_LINE),
}


def kcat_metadata(bootstrap):
    result = subprocess.run(
        ["kcat", "-b", bootstrap, "-L", "-J"], capture_output=True, timeout=KCAT_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"kcat -L exited {result.returncode}: {result.stderr.decode()[-2000:]}"
    return json.loads(result.stdout)


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (tests/run.sh installs it)")
@pytest.mark.parametrize("case", sorted(SERVED_FILES))
def test_kafka_config_file_serves_clients(tmp_path, file_broker, case):  # noqa: F811
    name, node_id, replace = SERVED_FILES[case]
    client_port, controller_port = two_ports()
    config_file, data_dir = rewrite(name, tmp_path, client_port, controller_port, replace=replace)
    port = client_port
    b = file_broker(config_file, port, data_dir)
    advertised = f"localhost:{port}"

    metadata = kcat_metadata(b.bootstrap)
    assert [(x["id"], x["name"]) for x in metadata["brokers"]] == [(node_id, advertised)], metadata

    admin = AdminClient(quiet_config(b.bootstrap))
    cluster = admin.describe_cluster(request_timeout=ADMIN_TIMEOUT_S).result(timeout=ADMIN_TIMEOUT_S)
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(node_id, "localhost", port)]
    assert cluster.controller.id == node_id

    assert_round_trip(b.bootstrap, unique_topic(f"kraft-{case}"), PARTITIONS, MESSAGES)

    b.stop()
    log_text = b.stderr_tail(limit=200_000)
    for key in IGNORED_IN_SHIPPED_FILES:
        lines = [line for line in log_text.splitlines() if f"configuration key {key} is accepted and ignored: " in line]
        assert len(lines) == 1, f"{key}: expected one line saying why it is ignored, got {lines}"


def test_kafka_file_settings_take_effect(tmp_path, file_broker):  # noqa: F811
    """num.partitions and default.replication.factor from the file apply to auto-created and
    default-sized topics; node.id is the one in Metadata (above)."""
    client_port, controller_port = two_ports()
    config_file, data_dir = rewrite(
        "server.properties", tmp_path, client_port, controller_port,
        replace={"num.partitions=1": "num.partitions=4"},
    )
    b = file_broker(config_file, client_port, data_dir)
    topic = unique_topic("kraft-auto")
    log = produce_all(new_producer(b.bootstrap), topic, [(b"k", b"v")])
    assert not log.errors, log.errors
    admin = AdminClient(quiet_config(b.bootstrap))
    described = admin.list_topics(topic, timeout=ADMIN_TIMEOUT_S).topics[topic]
    assert len(described.partitions) == 4
    b.stop()

    three = rewrite(
        "server.properties", tmp_path / "rf3", client_port, controller_port,
        extra_lines=["default.replication.factor=3"],
    )
    b3 = file_broker(three[0], client_port, three[1])
    admin3 = AdminClient(quiet_config(b3.bootstrap))
    futures = admin3.create_topics([NewTopic(unique_topic("kraft-rf"), 1)])
    with pytest.raises(Exception) as refused:
        next(iter(futures.values())).result(timeout=ADMIN_TIMEOUT_S)
    assert "INVALID_REPLICATION_FACTOR" in str(refused.value), refused.value


def test_broker_properties_without_its_controller_is_refused_naming_the_quorum(tmp_path):
    client_port, controller_port = two_ports()
    config_file, _ = rewrite("broker.properties", tmp_path, client_port, controller_port,
                             extra_lines=[REGISTRATION_TIMEOUT_LINE])
    code, stderr = serve_refused(config_file)
    assert code == EXIT_REFUSED, stderr
    assert "controller.quorum.bootstrap.servers" in stderr, stderr
    assert f"localhost:{controller_port}" in stderr, stderr
    assert "initial.broker.registration.timeout.ms" in stderr, stderr


def test_three_voter_quorum_alone_is_refused_naming_controller_quorum_voters(tmp_path):
    client_port, controller_port = two_ports()
    voters = f"controller.quorum.voters=1@localhost:9093,2@localhost:{controller_port + 100},3@localhost:{controller_port + 200}"
    config_file, _ = rewrite(
        "server.properties", tmp_path, client_port, controller_port,
        replace={"controller.quorum.voters=1@localhost:9093": voters},
        extra_lines=[REGISTRATION_TIMEOUT_LINE],
    )
    code, stderr = serve_refused(config_file)
    assert code == EXIT_REFUSED, stderr
    assert "controller.quorum.voters" in stderr, stderr
    assert f"localhost:{controller_port + 100}" in stderr, stderr


@pytest.mark.parametrize(
    "extra, words",
    [
        (["min.insync.replica=1"], "did you mean min.insync.replicas?"),
        (["process.roles=broker,controller,observer"], "unknown process role 'observer'"),
        (["node.id=7"], "the node id 7 must be included in the set of voters"),
    ],
)
def test_a_wrong_kraft_file_is_an_error_naming_the_key(tmp_path, extra, words):
    client_port, controller_port = two_ports()
    config_file, _ = rewrite("server.properties", tmp_path, client_port, controller_port, extra_lines=extra)
    code, stderr = serve_refused(config_file)
    assert code == EXIT_USAGE, stderr
    assert words in stderr, stderr


@pytest.mark.parametrize("voters", ["localhost:9093", "1@localhost:9093,1@localhost:9193", "one@localhost:9093"])
def test_a_malformed_quorum_voters_line_is_an_error_naming_the_key(tmp_path, voters):
    client_port, controller_port = two_ports()
    config_file, _ = rewrite("server.properties", tmp_path, client_port, controller_port,
                             replace={"controller.quorum.voters=1@localhost:9093":
                                      f"controller.quorum.voters={voters}"})
    code, stderr = serve_refused(config_file)
    assert code == EXIT_USAGE, stderr
    assert "controller.quorum.voters" in stderr, stderr
