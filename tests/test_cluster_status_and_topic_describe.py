"""`millrace cluster status` (DescribeCluster + DescribeQuorum) and `millrace topic describe
--by-broker` (replicas and ISR by broker, from Metadata) against Apache Kafka, a single KRaft
node and a 3-node KRaft cluster (perf/peers/kafka.sh), checked against what Apache Kafka's own
tool and a real client (confluent-kafka) say; `cluster status` against a single millrace
node, which is its own metadata quorum of one (as a single Kafka KRaft node is); and both
against a 3-node millrace cluster before and after one of its brokers is killed (fenced, out of
every ISR, leading nothing)."""

import os
import re
import socket
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from clients import quiet_config, unique_topic, wait_for_partitions
from conftest import BROKER_BINARY
from kafka_peer import (EXIT_PORT_IN_USE, KAFKA_SCRIPT, START_ATTEMPTS, START_TIMEOUT_S,
                        STOP_TIMEOUT_S)
from jepsen.workload import wait_for
from test_cluster_local_launcher import ports_free
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_console_topic import describe_fields

CLI_TIMEOUT_S = 60.0
# How long a Kafka broker may take to list a topic another broker already lists.
DESCRIBE_TIMEOUT_S = 30.0
# kafka.sh: node i listens on PORT+i, its controller on CONTROLLER_PORT+i.
CONTROLLER_PORT_OFFSET = 100
TOOL_TIMEOUT_S = 180.0
CLUSTER_NODES = 3
# Three JVMs on a shared machine: each as small as Kafka runs in.
CLUSTER_HEAP = os.environ.get("KAFKA_TEST_CLUSTER_HEAP", "512m")
# Seconds the Kafka cluster's nodes get to stop on SIGTERM at teardown before they are killed.
CLUSTER_STOP_GRACE_S = 5


def free_port_range(nodes, controller_offset):
    """A port P with P..P+nodes-1 and P+offset..P+offset+nodes-1 all free now."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        wanted = [port + i for i in range(nodes)] + [port + controller_offset + i for i in range(nodes)]
        if max(wanted) < 65536 and ports_free(wanted):
            return port
    raise RuntimeError("no free port range")


def cli(bootstrap, *args):
    command = [str(BROKER_BINARY), *args, "--bootstrap", bootstrap]
    return subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def status_of(bootstrap):
    """The parsed `cluster status`: header values, broker rows, quorum rows."""
    result = cli(bootstrap, "cluster", "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = {}
    brokers, members = {}, {}
    table = None
    for line in lines:
        if line.startswith("ID\t"):
            table = brokers if "FENCED" in line else members
            continue
        if table is not None and re.match(r"^\d+\t", line):
            cells = line.split("\t")
            table[int(cells[0])] = cells[1:]
            continue
        key, _, value = line.partition(": ")
        header[key] = value
        table = None
    return header, brokers, members, result.stdout


def kafka_quorum_tool(bootstrap):
    """Apache Kafka's `kafka-metadata-quorum describe --status`, as a dict."""
    result = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "tool", "org.apache.kafka.tools.MetadataQuorumCommand",
         "--bootstrap-server", bootstrap, "describe", "--status"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {k.strip(): v.strip() for k, _, v in
            (line.partition(":") for line in result.stdout.splitlines()) if v}


def check_status_against_kafka(bootstrap, node_count):
    header, brokers, members, text = status_of(bootstrap)
    admin = AdminClient(quiet_config(bootstrap))  # kept alive until its future resolves
    described = admin.describe_cluster().result(timeout=60)
    assert header["Cluster id"] == described.cluster_id, text
    addresses = {node.id: f"{node.host}:{node.port}" for node in described.nodes}
    assert {i: row[0] for i, row in brokers.items()} == addresses, text
    assert all(row[2] == "no" for row in brokers.values()), f"no broker is fenced:\n{text}"
    assert header["Brokers"] == str(node_count)

    tool = kafka_quorum_tool(bootstrap)
    leader = int(header["Controller leader"].split("\t")[0])
    assert leader == int(tool["LeaderId"]), (text, tool)
    offset = int(header["Metadata offset"].split("\t")[0])
    # The metadata log grows (broker heartbeats, no-op records): read before the tool's.
    assert 0 < offset <= int(tool["HighWatermark"]), (text, tool)
    voters = {int(v) for v in re.findall(r'"id":\s*(\d+)', tool["CurrentVoters"])}
    assert {i for i, row in members.items() if row[0] in ("leader", "voter")} == voters, text
    assert members[leader][0] == "leader"
    return header, brokers, members


def test_cluster_status_of_a_single_kafka_node(apache_kafka):
    check_status_against_kafka(apache_kafka.bootstrap, 1)


def test_cluster_status_of_a_single_millrace_node_shows_a_quorum_of_one(broker):
    b = broker()
    header, brokers, members, text = status_of(b.bootstrap)
    assert len(brokers) == 1, text
    (broker_id,) = brokers
    assert list(members) == [broker_id], text
    assert members[broker_id][0] == "leader", text
    assert header["Controller leader"].startswith(f"{broker_id}\t"), text


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory):
    """Apache Kafka, 3 combined KRaft nodes (perf/peers/kafka.sh --nodes 3)."""
    run_dir = tmp_path_factory.mktemp("apache-kafka-cluster")
    failures = []
    try:
        for _ in range(START_ATTEMPTS):
            port = free_port_range(CLUSTER_NODES, CONTROLLER_PORT_OFFSET)
            started = subprocess.run(
                ["bash", str(KAFKA_SCRIPT), "start", "--nodes", str(CLUSTER_NODES),
                 "--dir", str(run_dir), "--fresh", "--heap", CLUSTER_HEAP, "--port", str(port),
                 "--controller-port", str(port + CONTROLLER_PORT_OFFSET),
                 "--stop-with", str(os.getpid())],
                capture_output=True, text=True, timeout=START_TIMEOUT_S,
            )
            if started.returncode == 0:
                break
            failures.append(f"exit {started.returncode}: {started.stdout}{started.stderr}")
            if started.returncode != EXIT_PORT_IN_USE:
                break
        else:
            started = None
        if started is None or started.returncode != 0:
            pytest.fail("3-node Apache Kafka did not start:\n" + "\n".join(failures), pytrace=False)
        yield ",".join(f"127.0.0.1:{port + i}" for i in range(CLUSTER_NODES))
    finally:
        # Its data is thrown away: the 3 nodes stopped at once wait for the quorum they leave
        # (the script's 60 s in all before it kills them), which made this teardown a minute long.
        fast = {**os.environ, "KAFKA_STOP_TIMEOUT_S": str(CLUSTER_STOP_GRACE_S)}
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop", "--dir", str(run_dir)],
                       capture_output=True, timeout=STOP_TIMEOUT_S, env=fast)


def test_cluster_status_of_a_three_node_kafka_cluster(kafka_cluster):
    first = kafka_cluster.split(",")[0]
    header, brokers, members = check_status_against_kafka(first, CLUSTER_NODES)
    assert len(members) == CLUSTER_NODES


def test_topic_describe_by_broker_on_a_three_node_kafka_cluster(kafka_cluster):
    first = kafka_cluster.split(",")[0]
    topic = unique_topic("by-broker")
    admin = AdminClient(quiet_config(kafka_cluster))
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=3)])[topic].result(60)
    wait_for_partitions(admin, topic, 6)
    metadata = admin.list_topics(topic, timeout=30).topics[topic].partitions

    # The broker asked learns the topic from the metadata log a little after the one that
    # answered wait_for_partitions (CI once saw no partition row yet): asked until it lists all.
    def described():
        result = cli(first, "topic", "describe", topic, "--by-broker")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        rows = [describe_fields(line) for line in lines if line.startswith("\tTopic: ")]
        return (result, lines, rows) if len(rows) == 6 else None

    result, lines, rows = wait_for(described, f"{first} describing the 6 partitions of {topic}",
                                   DESCRIBE_TIMEOUT_S)
    for row in rows:
        partition = metadata[int(row["Partition"])]
        assert row["Leader"] == str(partition.leader)
        assert row["Replicas"] == ",".join(map(str, partition.replicas))
        assert row["Isr"] == ",".join(map(str, partition.isrs))
    by_broker = {int(f["Broker"]): f for f in
                 (describe_fields(line) for line in lines if line.startswith("Broker: "))}
    assert sorted(by_broker) == sorted(admin.list_topics(timeout=30).brokers), result.stdout
    for broker_id, fields in by_broker.items():
        leads = {f"{topic}-{p}" for p, m in metadata.items() if m.leader == broker_id}
        follows = {f"{topic}-{p}" for p, m in metadata.items()
                   if m.leader != broker_id and broker_id in m.isrs}
        cells = lambda key: set() if fields[key] == "-" else set(fields[key].split(","))
        assert cells("Leader") == leads, result.stdout
        assert cells("InSyncFollower") == follows, result.stdout
        assert cells("OutOfSyncReplica") == set(), result.stdout


MILLRACE_PARTITIONS = 6


def by_broker_of(bootstrap, topic):
    """`topic describe --by-broker`: {broker id: {Leader, InSyncFollower, OutOfSyncReplica: set}}."""
    result = cli(bootstrap, "topic", "describe", topic, "--by-broker")
    assert result.returncode == 0, result.stderr
    rows = [describe_fields(line) for line in result.stdout.splitlines() if line.startswith("Broker: ")]
    cells = lambda value: set() if value == "-" else set(value.split(","))
    return {int(row["Broker"]): {key: cells(row[key]) for key in ("Leader", "InSyncFollower", "OutOfSyncReplica")}
            for row in rows}


def retried(condition):
    """`condition()`, or False while the cluster settles (a CLI call that failed, a row missing)."""
    try:
        return condition()
    except (AssertionError, KeyError):
        return False


def test_cluster_status_and_topic_describe_of_a_millrace_cluster_with_a_fenced_broker(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    first = cluster.node(1).bootstrap
    wait_for_brokers(first, 3)
    topic = unique_topic("by-broker")
    admin = AdminClient(quiet_config(first))
    admin.create_topics([NewTopic(topic, MILLRACE_PARTITIONS, replication_factor=3)])[topic].result(60)
    wait_for_partitions(admin, topic, MILLRACE_PARTITIONS)
    header, brokers, members, text = status_of(first)
    assert sorted(brokers) == [1, 2, 3] and all(row[2] == "no" for row in brokers.values()), text
    assert {i for i, row in members.items() if row[0] in ("leader", "voter")} == {1, 2, 3}, text
    assert [i for i, row in members.items() if row[0] == "leader"] == \
        [int(header["Controller leader"].split("\t")[0])], text
    assert int(header["Metadata offset"].split("\t")[0]) > 0, text
    everything = {f"{topic}-{p}" for p in range(MILLRACE_PARTITIONS)}
    shares = by_broker_of(first, topic)
    assert all(not share["OutOfSyncReplica"] for share in shares.values()), shares
    assert set().union(*(share["Leader"] for share in shares.values())) == everything, shares

    cluster.kill(3)
    # Fenced once its session lapses; the controller takes it out of every ISR and moves its
    # leaderships.
    wait_for(lambda: retried(lambda: status_of(first)[1][3][2] == "yes"),
             "broker 3 fenced in cluster status", CLI_TIMEOUT_S)
    shares = wait_for(lambda: retried(
        lambda: (s := by_broker_of(first, topic))[3]["OutOfSyncReplica"] == everything and s),
        "broker 3 out of sync everywhere", CLI_TIMEOUT_S)
    assert not shares[3]["Leader"] and not shares[3]["InSyncFollower"], shares
    assert shares[1]["Leader"] | shares[2]["Leader"] == everything, shares
