"""The cluster fixture (tests/cluster_fixture.py): the KRaft files it writes for 3- and 5-node
clusters, and a node it starts, kills with kill -9 and restarts from the same file."""

import re

import kafka_wire
from cluster_fixture import Cluster


def properties(node):
    pairs = (line.split("=", 1) for line in node.config_file.read_text().splitlines() if line)
    return dict(pairs)


def test_five_nodes_get_three_voters_two_brokers_and_their_own_ports_and_dirs(tmp_path):
    cluster = Cluster(tmp_path, brokers=5)
    files = {i: properties(node) for i, node in cluster.nodes.items()}
    voters = files[1]["controller.quorum.voters"]
    assert re.fullmatch(r"1@127\.0\.0\.1:\d+,2@127\.0\.0\.1:\d+,3@127\.0\.0\.1:\d+", voters), voters
    ports = []
    for node_id, props in files.items():
        assert props["node.id"] == str(node_id)
        assert props["controller.quorum.voters"] == voters, "every node names the same quorum"
        assert props["num.shards"] == "1"
        assert props["controller.listener.names"] == "CONTROLLER"
        node = cluster.node(node_id)
        assert props["log.dirs"] == str(node.data_dir)
        assert props["advertised.listeners"] == f"PLAINTEXT://{node.bootstrap}"
        ports.append(node.port)
        if node_id <= 3:
            assert props["process.roles"] == "broker,controller"
            assert f"CONTROLLER://127.0.0.1:{node.controller_port}" in props["listeners"]
            assert f"{node_id}@127.0.0.1:{node.controller_port}" in voters
            ports.append(node.controller_port)
        else:
            assert props["process.roles"] == "broker"
            assert "CONTROLLER" not in props["listeners"]
    assert len(set(ports)) == len(ports) == 8, f"ports differ per node and listener: {ports}"
    assert len({node.data_dir for node in cluster.nodes.values()}) == 5
    assert cluster.bootstrap.count(",") == 4


def answers_api_versions(node):
    with kafka_wire.connect(node.bootstrap, timeout_s=5.0) as sock:
        error_code, versions = kafka_wire.api_versions_v0(sock)
    return error_code == kafka_wire.ERROR_NONE and kafka_wire.API_API_VERSIONS in versions


def test_a_node_is_started_killed_and_restarted_from_its_file(millrace_cluster):
    # A one-voter quorum is a whole cluster that `millrace serve` runs today.
    cluster = millrace_cluster(brokers=1)
    node = cluster.node(1)
    assert node.alive() and answers_api_versions(node)
    first_pid = node.process.pid
    cluster.kill(1)
    assert not node.alive()
    assert node.process.returncode == -9
    cluster.restart(1)
    assert node.alive() and node.process.pid != first_pid
    assert answers_api_versions(node)
    assert cluster.stop(1) == 0, "SIGTERM is a clean stop"
