"""The fault harness of the Jepsen tests (tests/jepsen/) works on a real 3-broker cluster:
- each broker advertises a proxy port (tests/jepsen/proxy.py), and Metadata hands it out;
- the proxy tells brokers (a replica fetcher's client id or Fetch replica id) from clients;
- a cut between two brokers resets and refuses their link while clients still get through;
- a one-way hold delivers nothing in that direction until it heals, then everything in order;
- a delay delays; SIGSTOP silences a broker until SIGCONT; kill -9 and restart keep the proxy;
- the voters line names proxies too: Raft peers and broker heartbeats are told apart, and the
  Raft leader isolated from the others is replaced (they elect and commit without it).
"""

import socket
import struct
import time

import pytest
from confluent_kafka import Producer

import kafka_wire
from confluent_kafka.admin import AdminClient, NewTopic

from jepsen import nemesis, workload
from jepsen.proxy import CLIENT, ProxyNet, kafka_identify, raft_identify
from test_cluster_three_brokers_serve_clients import describe_quorum_v0

QUICK_TIMEOUT_S = 1.5
DELAY_S = 0.5


@pytest.fixture
def proxies():
    net = ProxyNet()
    yield net
    net.close()


def api_versions(address, client_id="millrace-tests", sock=None, correlation_id=1):
    """(error code, socket) of ApiVersions v0 sent as `client_id` (on `sock` when given)."""
    sock = sock or kafka_wire.connect(address, timeout_s=QUICK_TIMEOUT_S)
    sock.sendall(kafka_wire.frame(kafka_wire.request_header(
        kafka_wire.API_API_VERSIONS, 0, correlation_id, client_id)))
    answer = kafka_wire.read_frame(sock)
    if answer is None:
        raise ConnectionError("closed")
    return struct.unpack_from(">ih", answer)[1], sock


def reachable(address, client_id="millrace-tests"):
    try:
        error, sock = api_versions(address, client_id)
        sock.close()
        return error == 0
    except (OSError, ConnectionError):
        return False


def proxy_address(cluster, node_id):
    return f"127.0.0.1:{cluster.advertised_ports[node_id]}"


def fetch_v15_frame(replica_id):
    """A follower's Fetch v15 request (header v2, one topic, ReplicaState tagged)."""
    uv = kafka_wire.uvarint
    header = kafka_wire.request_header(1, 15, 7, "repl", flexible=True)
    body = struct.pack(">iiibii", 500, 1, 1 << 20, 0, 0, -1)
    body += uv(2) + b"\x11" * 16 + uv(2) + struct.pack(">iiqiqi", 0, 3, 42, 2, 0, 1 << 20) + uv(0) + uv(0)
    body += uv(1)  # no forgotten topics
    body += uv(1)  # empty rack id
    state = struct.pack(">iq", replica_id, 5) + uv(0)
    body += uv(1) + uv(1) + uv(len(state)) + state
    return header + body


def test_the_proxy_tells_brokers_from_clients():
    header = kafka_wire.request_header
    assert kafka_identify(header(18, 0, 1, "broker-2-fetcher-0")) == 2
    assert kafka_identify(header(18, 0, 1, "rdkafka")) == CLIENT
    assert kafka_identify(header(18, 0, 1, None)) == CLIENT
    assert kafka_identify(header(1, 11, 1, "x") + struct.pack(">i", 3)) == 3
    assert kafka_identify(header(1, 11, 1, "x") + struct.pack(">i", -1)) == CLIENT
    assert kafka_identify(fetch_v15_frame(2)) == 2
    assert kafka_identify(fetch_v15_frame(-1)) == CLIENT
    assert kafka_identify(b"\x00") == CLIENT
    uv = kafka_wire.uvarint
    # Postcard RaftRequest::AppendEntries / Vote: the vote's term, then the sender's node id.
    assert raft_identify(uv(0) + uv(5) + uv(2) + b"\x01rest") == 2
    assert raft_identify(uv(1) + uv(300) + uv(3)) == 3
    # RaftRequest::Broker(bytes) holding RpcRequest::Heartbeat { broker_id: 3, .. } (zigzag).
    heartbeat = uv(1) + uv(6) + uv(7)
    assert raft_identify(uv(4) + uv(len(heartbeat)) + heartbeat) == 3
    # AlterPartition and AllocateProducerIds { broker_id: 2, .. }: a new connection's first call
    # may be one of them.
    for variant in (7, 9):
        call = uv(variant) + uv(4) + uv(7)
        assert raft_identify(uv(4) + uv(len(call)) + call) == 2
    # A forwarded CreateTopics names no broker.
    assert raft_identify(uv(4) + uv(2) + uv(2) + uv(0)) == CLIENT
    assert raft_identify(b"") == CLIENT


def test_partitions_delays_and_one_way_links_between_brokers(millrace_cluster, proxies):
    cluster = millrace_cluster(brokers=3, proxies=proxies)
    # Metadata hands out the proxies: a client that follows it goes through them.
    meta = workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
    assert {b.id: b.port for b in meta.brokers.values()} == cluster.advertised_ports
    producer = Producer({"bootstrap.servers": cluster.node(1).bootstrap, "acks": "all"})
    producer.produce("harness", b"through the proxy")
    assert producer.flush(20) == 0
    assert proxies.stats()[1].get(CLIENT, 0) + proxies.stats()[2].get(CLIENT, 0) \
        + proxies.stats()[3].get(CLIENT, 0) > 0

    to_1 = proxy_address(cluster, 1)
    # Broker 2's link to broker 1 is cut: its open connection is reset, new ones refused;
    # broker 3 and clients still reach broker 1.
    _, open_link = api_versions(to_1, "broker-2-fetcher-0")
    proxies.cut(2, 1)
    assert kafka_wire.wait_closed(open_link, QUICK_TIMEOUT_S)
    assert not reachable(to_1, "broker-2-fetcher-0")
    assert reachable(to_1, "broker-3-fetcher-0")
    assert reachable(to_1)
    proxies.heal()
    assert reachable(to_1, "broker-2-fetcher-0")

    # One way: broker 1's answers to broker 3 are held, then delivered in order on heal.
    _, link = api_versions(to_1, "broker-3-fetcher-0")
    proxies.one_way(1, 3)
    link.sendall(kafka_wire.frame(kafka_wire.request_header(18, 0, 2, "broker-3-fetcher-0")))
    link.settimeout(QUICK_TIMEOUT_S)
    with pytest.raises(socket.timeout):
        link.recv(1)
    assert reachable(to_1)
    proxies.heal()
    link.settimeout(5)
    held = kafka_wire.read_frame(link)
    assert struct.unpack_from(">ih", held) == (2, 0)
    assert api_versions(to_1, sock=link, correlation_id=3)[0] == 0
    link.close()

    # A delayed link answers, late.
    proxies.delay(1, 2, DELAY_S)
    started = time.monotonic()
    assert reachable(to_1, "broker-2-fetcher-0")
    assert time.monotonic() - started >= DELAY_S
    proxies.heal()


def test_pause_kill_and_restart_of_a_proxied_broker(millrace_cluster, proxies):
    cluster = millrace_cluster(brokers=3, proxies=proxies)
    node = cluster.node(2)
    nemesis.pause(node)
    try:
        assert not reachable(node.bootstrap)
        assert not reachable(proxy_address(cluster, 2))
    finally:
        nemesis.resume(node)
    assert reachable(node.bootstrap)
    cluster.kill(2)
    assert not reachable(proxy_address(cluster, 2))
    cluster.restart(2)
    assert reachable(proxy_address(cluster, 2))
    meta = workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
    assert meta.brokers[2].port == cluster.advertised_ports[2]


def raft_leader(cluster):
    return describe_quorum_v0(cluster.node(1).bootstrap)[1]


def test_isolating_the_raft_leader_cuts_its_controller_links(millrace_cluster, proxies):
    cluster = millrace_cluster(brokers=3, proxies=proxies)
    workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
    seen = proxies.stats()
    # The controller proxies told their peers by node id (Raft and heartbeats; a node also
    # calls its own controller through the voters line): every node, and nothing else.
    peers = set()
    for voter in cluster.voter_ids():
        peers |= set(seen[("controller", voter)]) - {CLIENT}
    assert peers == set(cluster.nodes), seen
    isolated = raft_leader(cluster)
    others = sorted(set(cluster.nodes) - {isolated})
    proxies.isolate(isolated, sorted(cluster.nodes))
    # Its AppendEntries no longer reach the others: they elect one of themselves, and commit.
    workload.wait_for(lambda: describe_quorum_v0(cluster.node(others[0]).bootstrap)[1] in others,
                      "a new Raft leader among the others")
    admin = AdminClient({"bootstrap.servers": cluster.node(others[0]).bootstrap})
    admin.create_topics([NewTopic("after-the-cut", 1, 1)])["after-the-cut"].result(timeout=30)
    proxies.heal()
    workload.wait_for_brokers(cluster.node(others[0]).bootstrap, cluster.nodes)
