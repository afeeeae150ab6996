"""Issue 12: no formatting step is needed, and one done with Kafka's own `kafka-storage format`
(Apache Kafka 4.4's StorageTool, resolved by perf/peers/kafka.sh) is honoured: millrace reads
node.id and cluster.id from the meta.properties it wrote, serves with that cluster id, and
refuses a config whose node.id or cluster.id differs, naming the key. Kafka's tool needs Java
and the jars tests/run.sh fetches; without them these tests fail with the tool's output."""

import subprocess

from clients import consume_all, create_topic, new_producer, produce_all, quiet_config, unique_topic
from confluent_kafka.admin import AdminClient
from conftest import REPO_ROOT
from kraft_files import file_broker, kafka_uuid, rewrite, serve_refused, two_ports  # noqa: F401 (fixture)

KAFKA_SCRIPT = REPO_ROOT / "perf" / "peers" / "kafka.sh"
# A JVM start on a loaded machine, plus jar resolution on a clean one.
FORMAT_TIMEOUT_S = 600
ADMIN_TIMEOUT_S = 30
EXIT_USAGE = 2
EXIT_FAILURE = 1


def kafka_storage_format(config_file, cluster_id):
    result = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "tool", "kafka.tools.StorageTool", "format",
         "-t", cluster_id, "-c", str(config_file)],
        capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S,
    )
    assert result.returncode == 0, f"kafka-storage format failed:\n{result.stdout}{result.stderr}"


def test_storage_formatted_by_kafka_serves_with_its_cluster_id(tmp_path, file_broker):  # noqa: F811
    client_port, controller_port = two_ports()
    config_file, data_dir = rewrite("server.properties", tmp_path, client_port, controller_port)
    cluster_id = kafka_uuid()
    kafka_storage_format(config_file, cluster_id)
    meta = (data_dir / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta and "node.id=1" in meta, meta

    b = file_broker(config_file, client_port, data_dir)
    admin = AdminClient(quiet_config(b.bootstrap))
    assert admin.list_topics(timeout=ADMIN_TIMEOUT_S).cluster_id == cluster_id
    topic = unique_topic("kraft-formatted")
    create_topic(b.bootstrap, topic, 1)
    log = produce_all(new_producer(b.bootstrap, acks="all"), topic, [(b"k", b"formatted")])
    assert not log.errors, log.errors
    assert [value for _, _, value in consume_all(b.bootstrap, topic, 1)[0]] == [b"formatted"]
    b.stop()

    # The same storage under another node.id (the quorum follows it) or cluster.id is refused.
    other_node, _ = rewrite(
        "server.properties", tmp_path / "node2", client_port, controller_port,
        replace={"node.id=1": "node.id=2", "controller.quorum.voters=1@localhost:9093": "controller.quorum.voters=2@localhost:9093"},
    )
    text = other_node.read_text().replace(f"log.dirs={tmp_path / 'node2' / 'data'}", f"log.dirs={data_dir}")
    other_node.write_text(text)
    code, stderr = serve_refused(other_node)
    assert code == EXIT_FAILURE, stderr
    assert "belongs to node.id 1" in stderr and "set node.id=1" in stderr, stderr

    other_cluster, _ = rewrite(
        "server.properties", tmp_path / "cluster", client_port, controller_port,
        extra_lines=[f"cluster.id={kafka_uuid()}"],
    )
    other_cluster.write_text(other_cluster.read_text().replace(f"log.dirs={tmp_path / 'cluster' / 'data'}", f"log.dirs={data_dir}"))
    code, stderr = serve_refused(other_cluster)
    assert code == EXIT_FAILURE, stderr
    assert f"belongs to cluster.id {cluster_id}" in stderr, stderr


def test_unformatted_storage_starts_and_keeps_its_identity(tmp_path, file_broker):  # noqa: F811
    client_port, controller_port = two_ports()
    config_file, data_dir = rewrite("server.properties", tmp_path, client_port, controller_port)
    b = file_broker(config_file, client_port, data_dir)
    first = AdminClient(quiet_config(b.bootstrap)).list_topics(timeout=ADMIN_TIMEOUT_S).cluster_id
    b.restart()
    again = AdminClient(quiet_config(b.bootstrap)).list_topics(timeout=ADMIN_TIMEOUT_S).cluster_id
    assert first and again == first
