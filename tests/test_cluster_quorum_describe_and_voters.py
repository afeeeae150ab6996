"""Issue 12, the metadata quorum of a 3-node cluster as Kafka's tools see it:
- DescribeQuorum asked on any broker is answered from the Raft leader's replication state (as
  Kafka forwards it to the leader): every broker gives the same leader and every voter's log end
  offset, where a follower used to answer -1 for the others. Kafka's own
  `kafka-metadata-quorum describe --status / --replication` reads it through a follower, with
  --bootstrap-server and with --bootstrap-controller (KIP-919: its CONTROLLER listener).
- AddRaftVoter / RemoveRaftVoter (KIP-853) through `kafka-metadata-quorum add-controller` and
  `remove-controller` sent to a broker: a 4th node started with process.roles=broker,controller
  but outside controller.quorum.voters is added as a voter (it catches up first), then removed
  again (it stays an observer); removing a node that does not vote is VOTER_NOT_FOUND."""

import re
import time

import pytest

from cluster_fixture import ClusterNode, distinct_free_ports, kraft_properties
from java_clients import tool
from kraft_files import kafka_uuid
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers

pytestmark = pytest.mark.timeout(300)
QUORUM_TOOL = "org.apache.kafka.tools.MetadataQuorumCommand"
VOTER_CHANGE_TIMEOUT_S = 60


def quorum_tool(bootstrap, *args, flag="--bootstrap-server"):
    """kafka-metadata-quorum FLAG BOOTSTRAP ARGS (FLAG --bootstrap-controller: KIP-919, straight
    to a controller's CONTROLLER listener); its CompletedProcess."""
    return tool(QUORUM_TOOL, flag, bootstrap, *args)


def quorum_tool_ok(bootstrap, *args, flag="--bootstrap-server"):
    done = quorum_tool(bootstrap, *args, flag=flag)
    assert done.returncode == 0, f"kafka-metadata-quorum {flag} {' '.join(args)}: {done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def status(bootstrap, flag="--bootstrap-server"):
    """`describe --status` as {field: value}."""
    text = quorum_tool_ok(bootstrap, "describe", "--status", flag=flag)
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def replication(bootstrap, flag="--bootstrap-server"):
    """`describe --replication` rows as {node id: {column: value}}."""
    lines = [line.split() for line in quorum_tool_ok(bootstrap, "describe", "--replication", flag=flag).splitlines()
             if line.strip()]
    header = lines[0]
    return {int(row[0]): dict(zip(header, row)) for row in lines[1:]}


def leader_view_everywhere(nodes):
    """DescribeQuorum v0 of each node ({id: node}) once all give the same leader and no -1 log
    end offset."""
    deadline = time.monotonic() + VOTER_CHANGE_TIMEOUT_S
    while True:
        answers = {i: describe_quorum_v0(node.bootstrap) for i, node in nodes.items()}
        leaders = {a[1] for a in answers.values()}
        unknown = {i: a[4] for i, a in answers.items() if any(end < 0 for _, end in a[4])}
        if len(leaders) == 1 and not unknown and all(a[0] == 0 for a in answers.values()):
            return answers
        assert time.monotonic() < deadline, f"answers differ or miss log end offsets: {answers}"
        time.sleep(0.5)


def assert_voter_endpoints(cluster, seen):
    """DescribeQuorum v2's Nodes, as the tool prints them: each voter with its CONTROLLER
    endpoint, as Kafka lists static voters (`{"id": 1, "endpoints":
    ["CONTROLLER://127.0.0.1:9093"]}`; Kafka 4.4's tool prints no directoryId for them)."""
    voters = seen["CurrentVoters"]
    for node_id in (1, 2, 3):
        endpoint = f'CONTROLLER://127.0.0.1:{cluster.node(node_id).controller_port}'
        assert re.search(rf'"id": {node_id}(, "directoryId": [^,]+)?, "endpoints": \["{endpoint}"\]', voters), (
            f"voter {node_id} without its endpoint {endpoint}: {voters}")


def test_describe_quorum_is_the_leaders_view_on_every_broker(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    for node_id in (1, 2, 3):
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    answers = leader_view_everywhere(cluster.nodes)
    for error, leader, epoch, hw, voters, observers in answers.values():
        assert sorted(v for v, _ in voters) == [1, 2, 3] and observers == []
        assert hw >= 0 and all(end >= 0 for _, end in voters), voters

    leader = answers[1][1]
    follower = next(i for i in (1, 2, 3) if i != leader)
    seen = status(cluster.node(follower).bootstrap)
    assert seen["LeaderId"] == str(leader), seen
    assert int(seen["HighWatermark"]) >= 0, seen
    assert "CurrentVoters" in seen and all(f'"id": {i}' in seen["CurrentVoters"] for i in (1, 2, 3)), seen
    assert_voter_endpoints(cluster, seen)
    rows = replication(cluster.node(follower).bootstrap)
    assert sorted(rows) == [1, 2, 3], rows
    assert rows[leader]["Status"] == "Leader"
    for node_id, row in rows.items():
        assert int(row["LogEndOffset"]) >= 0, rows
        if node_id != leader:
            assert row["Status"] == "Follower" and row["LastFetchTimestamp"] != "-1", rows

    # KIP-919: the same tool given a controller's CONTROLLER listener (--bootstrap-controller)
    # learns the controllers from DescribeCluster and asks DescribeQuorum there.
    controller = f"127.0.0.1:{cluster.node(follower).controller_port}"
    direct = status(controller, flag="--bootstrap-controller")
    assert direct["ClusterId"] == seen["ClusterId"] and direct["LeaderId"] == str(leader), direct
    assert all(f'"id": {i}' in direct["CurrentVoters"] for i in (1, 2, 3)), direct
    assert_voter_endpoints(cluster, direct)
    direct_rows = replication(controller, flag="--bootstrap-controller")
    assert sorted(direct_rows) == [1, 2, 3] and direct_rows[leader]["Status"] == "Leader", direct_rows
    # The Raft RPCs on that listener were not disturbed.
    assert {a[1] for a in leader_view_everywhere(cluster.nodes).values()} == {leader}


def controller_file(cluster, node_id, directory_id):
    """Starts node `node_id`: process.roles=broker,controller with a CONTROLLER listener and
    controller.quorum.bootstrap.servers in place of the voters line (as Kafka's new controllers
    join: as observers), meta.properties holding the cluster id and a directory.id (what
    add-controller reads). Returns (node, its file)."""
    client_port, controller_port = distinct_free_ports(
        2, set(cluster.client_ports.values()) | set(cluster.controller_ports.values()))
    node_dir = cluster.directory / f"node-{node_id}"
    data_dir = node_dir / "data"
    data_dir.mkdir(parents=True)
    cluster_id = next(line.split("=", 1)[1] for line in
                      (cluster.node(1).data_dir / "meta.properties").read_text().splitlines()
                      if line.startswith("cluster.id="))
    (data_dir / "meta.properties").write_text(
        f"version=1\ncluster.id={cluster_id}\nnode.id={node_id}\ndirectory.id={directory_id}\n")
    config_file = node_dir / "server.properties"
    text = kraft_properties(node_id, "broker,controller", client_port, controller_port,
                            cluster.voters, data_dir, cluster.extra)
    # A controller joining a running quorum names its controllers, not the voter set (KIP-853).
    bootstrap = ",".join(voter.split("@", 1)[1] for voter in cluster.voters.split(","))
    text = text.replace(f"controller.quorum.voters={cluster.voters}\n",
                        f"controller.quorum.bootstrap.servers={bootstrap}\n")
    config_file.write_text(text)
    node = ClusterNode(node_id, "broker,controller", config_file, client_port, controller_port, data_dir)
    cluster.registry.append(node)
    cluster.strangers.append(node)
    # Not a voter yet, it does not follow the metadata log, so it cannot catch up with its own
    # registration and serves no client until it is added: wait for its CONTROLLER listener.
    node.launch()
    deadline = time.monotonic() + VOTER_CHANGE_TIMEOUT_S
    while "metadata quorum started" not in node.stderr_path.read_text(errors="replace"):
        assert node.alive() and time.monotonic() < deadline, node.stderr_tail()
        time.sleep(0.2)
    return node, config_file


def test_a_controller_is_added_and_removed_with_kafka_metadata_quorum(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    for node_id in (1, 2, 3):
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    directory_id = kafka_uuid()
    node, config_file = controller_file(cluster, 4, directory_id)
    bootstrap = cluster.node(2).bootstrap

    added = quorum_tool_ok(bootstrap, "--command-config", str(config_file), "add-controller")
    assert f"Added controller 4 with directory id {directory_id}" in added, added
    answers = leader_view_everywhere({**cluster.nodes, 4: node})
    for error, leader, epoch, hw, voters, observers in answers.values():
        assert sorted(v for v, _ in voters) == [1, 2, 3, 4], answers
    # The new voter is a broker too: once it follows the log it catches up with its own
    # registration, serves clients, is unfenced and listed.
    wait_for_brokers(cluster.node(1).bootstrap, 4)

    removed = quorum_tool_ok(bootstrap, "remove-controller", "--controller-id", "4",
                             "--controller-directory-id", directory_id)
    assert re.search(rf"Removed (KRaft )?controller 4 with directory id {directory_id}", removed), removed
    answers = leader_view_everywhere(cluster.nodes)
    for error, leader, epoch, hw, voters, observers in answers.values():
        assert sorted(v for v, _ in voters) == [1, 2, 3], answers
        assert [o for o, _ in observers] == [4], answers

    again = quorum_tool(bootstrap, "remove-controller", "--controller-id", "4",
                        "--controller-directory-id", directory_id)
    assert again.returncode != 0 and "VoterNotFound" in again.stdout + again.stderr, again
    assert node.alive()
