"""Issue 12: Kafka 4.x's shipped split-role files, config/controller.properties (a dedicated
controller, its quorum named by bootstrap server) and config/broker.properties (twice, the second
with node.id 3), make one cluster with `millrace serve FILE` each, as they do for Kafka (whose
`kafka-storage format --standalone` step millrace does not need). Only ports, log.dirs and the
second broker's node.id are rewritten.

- Clients see the two brokers, not the controller; records go round at acks=all with replicas on
  both brokers.
- The dedicated controller serves clients no data: its one port is the metadata quorum's, where
  admin clients given bootstrap.controllers (KIP-919) read the quorum:
  `kafka-metadata-quorum --bootstrap-controller` names it the leader, with the brokers observers.
- It restarts from its own log (no second initialisation): CreateTopics works again after it is
  back, and the brokers' data stayed readable while it was down."""

import re
import time

import pytest

from clients import consume_all, new_producer, produce_all, quiet_config, unique_topic
from confluent_kafka.admin import AdminClient, NewTopic
from conftest import free_port
from java_clients import tool_ok
from kraft_files import FileBroker, rewrite

ADMIN_TIMEOUT_S = 30
MESSAGES = 400
PARTITIONS = 4
REPLICATION_FACTOR = 2
# The controller has no Kafka listener to probe: its start is read from its log.
CONTROLLER_READY_LINE = "millrace ready: a dedicated controller"
CONTROLLER_READY_TIMEOUT_S = 60
READY_POLL_INTERVAL_S = 0.2
# Both brokers must have registered before a replication factor of 2 can be placed.
BROKERS_LISTED_TIMEOUT_S = 60
CREATE_RETRY_TIMEOUT_S = 60


class DedicatedController(FileBroker):
    """controller.properties: ready once its log says so (it answers no Kafka request)."""

    def wait_ready(self, timeout_s=CONTROLLER_READY_TIMEOUT_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"controller exited with {self.process.returncode}\n{self.stderr_tail()}")
            # Only this start's part of the log: a restart appends to the same file.
            if CONTROLLER_READY_LINE in self.stderr_tail().rsplit("===== start #", 1)[-1]:
                return
            time.sleep(READY_POLL_INTERVAL_S)
        pytest.fail(f"controller not ready within {timeout_s}s\n{self.stderr_tail()}")


@pytest.fixture
def split_cluster(tmp_path, request):
    """The controller (node 1) and brokers 2 and 3, from Kafka's shipped files."""
    nodes = []
    request.node.millrace_brokers = nodes
    ports = set()
    while len(ports) < 3:
        ports.add(free_port())
    controller_port, *client_ports = sorted(ports)
    path, data = rewrite("controller.properties", tmp_path / "controller", client_ports[0], controller_port)
    controller = DedicatedController(path, controller_port, data)
    nodes.append(controller.start())
    brokers = []
    for node_id, client_port in zip((2, 3), client_ports):
        path, data = rewrite("broker.properties", tmp_path / f"broker{node_id}", client_port, controller_port,
                             replace={"node.id=2": f"node.id={node_id}"})
        broker = FileBroker(path, client_port, data)
        nodes.append(broker)
        brokers.append(broker.start())
    yield controller, brokers, controller_port
    for node in nodes:
        node.kill()


def listed_brokers(bootstrap):
    admin = AdminClient(quiet_config(bootstrap))
    return sorted(admin.list_topics(timeout=ADMIN_TIMEOUT_S).brokers)


def wait_for_brokers(bootstrap, expected):
    deadline = time.monotonic() + BROKERS_LISTED_TIMEOUT_S
    while (seen := listed_brokers(bootstrap)) != expected:
        assert time.monotonic() < deadline, f"brokers listed {seen}, expected {expected}"
        time.sleep(READY_POLL_INTERVAL_S)


def create_topic_retrying(bootstrap, topic):
    """CreateTopics until the controller takes it (right after a controller start the brokers
    may still be finding it)."""
    admin = AdminClient(quiet_config(bootstrap))
    deadline = time.monotonic() + CREATE_RETRY_TIMEOUT_S
    while True:
        future = admin.create_topics([NewTopic(topic, PARTITIONS, REPLICATION_FACTOR)])[topic]
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
            return
        except Exception as error:  # noqa: BLE001 (the message is reported)
            if time.monotonic() >= deadline:
                pytest.fail(f"CreateTopics of {topic} still failing: {error}")
            time.sleep(READY_POLL_INTERVAL_S)


def round_trip(bootstrap, topic, tag):
    messages = [(f"k{i}".encode(), f"{tag}-{i}".encode()) for i in range(MESSAGES)]
    log = produce_all(new_producer(bootstrap, acks="all"), topic, messages)
    assert not log.errors, log.errors[:3]
    return messages


def read_back(bootstrap, topic):
    received = consume_all(bootstrap, topic, PARTITIONS)
    return sorted((key, value) for records in received.values() for _, key, value in records)


def test_controller_and_broker_properties_make_a_cluster(split_cluster):
    controller, brokers, controller_port = split_cluster
    bootstrap = ",".join(b.bootstrap for b in brokers)
    wait_for_brokers(bootstrap, [2, 3])

    topic = unique_topic("split-roles")
    create_topic_retrying(bootstrap, topic)
    admin = AdminClient(quiet_config(bootstrap))
    described = admin.list_topics(topic, timeout=ADMIN_TIMEOUT_S).topics[topic]
    replicas = {p: sorted(meta.replicas) for p, meta in described.partitions.items()}
    assert replicas == {p: [2, 3] for p in range(PARTITIONS)}, replicas
    leaders = sorted(meta.leader for meta in described.partitions.values())
    assert set(leaders) == {2, 3}, f"leaders not spread over both brokers: {leaders}"
    sent = round_trip(bootstrap, topic, "first")
    assert read_back(bootstrap, topic) == sorted(sent)

    log_text = controller.stderr_tail(limit=200_000)
    assert "process.roles: this node is one member of a cluster" in log_text, log_text[-3000:]
    # An empty host binds `::` (both families) where the host allows, else 0.0.0.0.
    assert re.search(rf"on its listener CONTROLLER://(0\.0\.0\.0|\[::\]):{controller_port}\b", log_text), \
        log_text[-3000:]

    # KIP-919: Kafka's quorum tool straight to the controller's one port.
    status = tool_ok("org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-controller",
                     f"127.0.0.1:{controller_port}", "describe", "--status")
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in status.splitlines()) if v}
    # DescribeQuorum v2's Nodes: the voter's CONTROLLER endpoint, as its bootstrap server names it.
    voters = f'[{{"id": 1, "endpoints": ["CONTROLLER://localhost:{controller_port}"]}}]'
    assert fields["LeaderId"] == "1" and fields["CurrentVoters"] == voters, status
    assert all(f'"id": {b}' in fields["CurrentObservers"] for b in (2, 3)), status

    # The controller restarts from its own metadata log; meanwhile the brokers keep serving reads.
    controller.stop()
    assert read_back(bootstrap, topic) == sorted(sent)
    controller.start()
    second = unique_topic("split-roles-after")
    create_topic_retrying(bootstrap, second)
    sent_after = round_trip(bootstrap, second, "second")
    assert read_back(bootstrap, second) == sorted(sent_after)
    assert listed_brokers(bootstrap) == [2, 3]
