"""Issue 12: a listener with an empty host (`PLAINTEXT://:9092`) serves IPv6 and IPv4 clients
alike, as Apache Kafka's does (the JVM binds its wildcard `::`, which takes both families when
`net.ipv6.bindv6only=0`, Linux's default). A client resolving `localhost` to `::1` first (Debian's
/etc/hosts) connects at once, and a voter whose `controller.quorum.voters` entry is an IPv6
address of this machine may listen on `CONTROLLER://:port`.

An IPv4 client on that dual-stack socket is still an IPv4 client: DescribeGroups shows its host
as `/127.0.0.1` (Kafka's form), not `/::ffff:127.0.0.1`; an IPv6 one as Java prints it,
`/0:0:0:0:0:0:0:1`. An empty host in `advertised.listeners` is advertised at this machine's name,
as Kafka advertises its canonical host name there."""

import socket
import time

import pytest

import kafka_wire
from clients import consume_all, new_producer, produce_all, quiet_config, unique_topic
from cluster_fixture import distinct_free_ports
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from kraft_files import combined_voter_lines, file_node, file_nodes  # noqa: F401 (a fixture)

ADMIN_TIMEOUT_S = 30
MESSAGES = 20
GROUP_TIMEOUT_S = 60
# Seen in a Kafka DescribeGroups answer for a member connected from 127.0.0.1.
IPV4_MEMBER_HOST = "/127.0.0.1"
IPV6_LOOPBACK_MEMBER_HOST = "/0:0:0:0:0:0:0:1"
# The suite's clients keep to IPv4 (`quiet_config`); these take either family.
ANY_FAMILY = {"broker.address.family": "any"}
CLUSTER_NODES = 3
BROKERS_LISTED_TIMEOUT_S = 60
POLL_INTERVAL_S = 0.2


def host_has_dual_stack():
    """True when an IPv6 socket here can bind `::1` and takes IPv4 on `::` too."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        with open("/proc/sys/net/ipv6/bindv6only") as flag:
            return flag.read().strip() == "0"
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not host_has_dual_stack(),
                                reason="this host has no IPv6 loopback or binds IPv6 only")




def api_versions_over(family_host, port):
    """ApiVersions v0 over a connection to `family_host` (an IPv4 or IPv6 literal)."""
    with kafka_wire.connect(f"{family_host}:{port}") as sock:
        return kafka_wire.api_versions_v0(sock)


def test_an_empty_listener_host_serves_ipv6_and_ipv4(tmp_path, file_nodes):
    port = started_broker(tmp_path, file_nodes, "PLAINTEXT://:{port}")

    for host in ("::1", "127.0.0.1"):
        answer = api_versions_over(host, port)
        assert answer, f"no ApiVersions answer over {host}"

    # A client that bootstraps over IPv6 produces and reads back (Metadata then names the
    # advertised `localhost`, whichever family it resolves to here).
    topic = unique_topic("dual-stack")
    messages = [(None, f"v6-{i}".encode()) for i in range(MESSAGES)]
    delivered = produce_all(new_producer(f"[::1]:{port}", **ANY_FAMILY), topic, messages)
    assert delivered.errors == [], delivered.errors
    read = consume_all(f"[::1]:{port}", topic, 1, **ANY_FAMILY)
    assert [value for _, _, value in read[0]] == [value for _, value in messages]


def started_broker(tmp_path, file_nodes, listeners, advertised=None):
    """A one-shard broker on a free port with these `listeners` / `advertised.listeners`
    (`{port}` filled in); returns the port."""
    (port,) = distinct_free_ports(1)
    lines = [f"listeners={listeners.format(port=port)}", "num.shards=1"]
    if advertised is not None:
        lines.append(f"advertised.listeners={advertised.format(port=port)}")
    broker = file_node(tmp_path, "broker", lines, port)
    file_nodes.append(broker)
    broker.start()
    return port


def member_hosts(bootstrap, client_config, topic, group):
    """The hosts DescribeGroups shows for one consumer of `group` subscribed to `topic`."""
    consumer = Consumer({**client_config, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        admin = AdminClient(client_config)
        for _ in range(GROUP_TIMEOUT_S * 2):
            consumer.poll(0.5)
            described = admin.describe_consumer_groups([group])[group].result(timeout=ADMIN_TIMEOUT_S)
            if described.members:
                return [m.host for m in described.members]
        return []
    finally:
        consumer.close()


def test_an_ipv6_member_shows_as_java_shows_an_ipv6_address(tmp_path, file_nodes):
    port = started_broker(tmp_path, file_nodes, "PLAINTEXT://:{port}", "PLAINTEXT://[::1]:{port}")
    bootstrap = f"[::1]:{port}"
    client_config = {**quiet_config(bootstrap), **ANY_FAMILY}
    topic, group = unique_topic("v6-group"), unique_topic("v6-member")
    produce_all(new_producer(bootstrap, **ANY_FAMILY), topic, [(None, b"one")])
    # Java's Inet6Address.toString(): every group, none compressed.
    assert member_hosts(bootstrap, client_config, topic, group) == [IPV6_LOOPBACK_MEMBER_HOST]


def test_an_empty_advertised_host_is_this_machines_name(tmp_path, file_nodes):
    """As Kafka advertises its canonical host name for `advertised.listeners=PLAINTEXT://:port`."""
    port = started_broker(tmp_path, file_nodes, "PLAINTEXT://127.0.0.1:{port}", "PLAINTEXT://:{port}")
    listed = AdminClient(quiet_config(f"127.0.0.1:{port}")).list_topics(timeout=ADMIN_TIMEOUT_S).brokers
    assert [(b.host, b.port) for b in listed.values()] == [(socket.gethostname(), port)]


def test_an_ipv4_member_on_a_dual_stack_listener_shows_as_ipv4(tmp_path, file_nodes):
    port = started_broker(tmp_path, file_nodes, "PLAINTEXT://:{port}", "PLAINTEXT://127.0.0.1:{port}")
    bootstrap = f"127.0.0.1:{port}"
    topic, group = unique_topic("dual-stack-group"), unique_topic("dual-stack-member")
    produce_all(new_producer(bootstrap), topic, [(None, b"one")])
    assert member_hosts(bootstrap, quiet_config(bootstrap), topic, group) == [IPV4_MEMBER_HOST]


def listed_broker_ids(bootstrap):
    try:
        return sorted(AdminClient(quiet_config(bootstrap)).list_topics(timeout=5).brokers)
    except KafkaException as error:
        return repr(error)


def test_voters_at_ipv6_addresses_form_a_cluster_on_empty_host_controller_listeners(tmp_path, file_nodes):
    """Each voters entry names `[::1]:port`; each node's CONTROLLER listener is `:port`. The
    start-up check that a voter listens where its entry says accepts it (the listener binds `::`),
    and the Raft links run over IPv6."""
    ports = distinct_free_ports(2 * CLUSTER_NODES)
    client, controller = ports[:CLUSTER_NODES], ports[CLUSTER_NODES:]
    voters = ",".join(f"{i + 1}@[::1]:{controller[i]}" for i in range(CLUSTER_NODES))
    for i in range(CLUSTER_NODES):
        lines = [
            *combined_voter_lines(i + 1, voters),
            f"listeners=PLAINTEXT://:{client[i]},CONTROLLER://:{controller[i]}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{client[i]}",
            "num.shards=1",
        ]
        file_nodes.append(file_node(tmp_path, f"node{i + 1}", lines, client[i]))
    for node in file_nodes:
        node.launch()
    for node in file_nodes:
        node.wait_ready()
    bootstrap = ",".join(f"127.0.0.1:{port}" for port in client)
    deadline = time.monotonic() + BROKERS_LISTED_TIMEOUT_S
    while (listed := listed_broker_ids(bootstrap)) != [1, 2, 3]:
        assert time.monotonic() < deadline, f"brokers listed: {listed}"
        time.sleep(POLL_INTERVAL_S)

    topic = unique_topic("ipv6-voters")
    admin = AdminClient(quiet_config(bootstrap))
    admin.create_topics([NewTopic(topic, 1, CLUSTER_NODES)])[topic].result(timeout=ADMIN_TIMEOUT_S)
    messages = [(None, f"rf3-{i}".encode()) for i in range(MESSAGES)]
    delivered = produce_all(new_producer(bootstrap, acks="all"), topic, messages)
    assert delivered.errors == [], delivered.errors[:3]
    read = consume_all(bootstrap, topic, 1)
    assert [value for _, _, value in read[0]] == [value for _, value in messages]
