"""A broker cut off from the others is fenced by the active controller on their side, also when
it was the Raft leader of the metadata quorum (issue 13: the Jepsen runs saw an isolated first
Raft leader that the new controller never fenced, about 3 isolations in 12).

Three proxied nodes (tests/jepsen/proxy.py: every client, replica and CONTROLLER link goes
through a proxy the test can cut). Each round isolates the current Raft leader from the other two
(both planes); they elect a new leader, whose controller must fence the isolated broker within
the broker session timeout: Metadata asked of each survivor, on its own listener, then no longer
lists it. Healing lets it back in (it is listed again). Metadata is asked of the survivors one by
one over raw sockets, never through a client that could pick the isolated broker (whose own view
is stale, as in Kafka).
"""

import time

import kafka_wire
from jepsen import workload
from jepsen.proxy import ProxyNet
from test_cluster_three_brokers_serve_clients import describe_quorum_v0

ROUNDS = 4
# broker.session.timeout.ms (9 s) after the new controller activates, plus a Raft election
# (at most 2 s) and slack for the shared 2-vCPU machine.
FENCED_WITHIN_S = 30.0
# Kafka's default is 2000: half of it halves the wait for the survivors' early fence of the
# isolated broker (its connections to them closed) and for its return after healing.
HEARTBEAT_INTERVAL_MS = 1000
RETURNS_WITHIN_S = 60.0


def metadata_broker_ids(address):
    """The broker ids Metadata v1 (no topics) lists at `address`; None when it cannot answer."""
    try:
        with kafka_wire.connect(address, timeout_s=3) as sock:
            reader = kafka_wire.call(sock, kafka_wire.API_METADATA, 1, 1, kafka_wire.int32(0))
    except (OSError, ConnectionError, ValueError):
        return None
    ids = set()
    for _ in range(reader.int32()):
        ids.add(reader.int32())
        reader.string(), reader.int32(), reader.string()  # host, port, rack
    return ids


def raft_leader(cluster, asked):
    for node_id in asked:
        try:
            leader = describe_quorum_v0(cluster.node(node_id).bootstrap)[1]
        except (OSError, AssertionError, ValueError):
            continue
        if leader in cluster.nodes:
            return leader
    return None


def wait_listed(cluster, asked, expected, timeout_s, what):
    """Until Metadata at each node of `asked` lists exactly `expected`; the time it took."""
    started = time.monotonic()
    seen = {}

    def listed():
        for node_id in asked:
            seen[node_id] = metadata_broker_ids(cluster.node(node_id).bootstrap)
        return all(ids == set(expected) for ids in seen.values())

    try:
        workload.wait_for(listed, what, timeout_s=timeout_s, interval_s=0.25)
    except TimeoutError as e:
        raise AssertionError(f"{e}; Metadata lists {seen}") from None
    return time.monotonic() - started


def test_an_isolated_raft_leader_is_fenced_by_the_new_controller(millrace_cluster):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(
            brokers=3, extra=[f"broker.heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}"],
            proxies=proxies)
        everyone = sorted(cluster.nodes)
        wait_listed(cluster, everyone, everyone, RETURNS_WITHIN_S, "all three brokers listed")
        took = []
        for round_no in range(ROUNDS):
            leader = workload.wait_for(lambda: raft_leader(cluster, everyone), "a Raft leader")
            others = [n for n in everyone if n != leader]
            proxies.isolate(leader, everyone)
            took.append(wait_listed(
                cluster, others, others, FENCED_WITHIN_S,
                f"round {round_no}: isolated Raft leader {leader} fenced as seen by {others}"))
            proxies.heal()
            wait_listed(cluster, everyone, everyone, RETURNS_WITHIN_S,
                        f"round {round_no}: broker {leader} listed again after healing")
        print(f"isolated Raft leaders fenced after {[round(t, 1) for t in took]} s")
    finally:
        proxies.close()
