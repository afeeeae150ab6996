"""A broker cut off from the others is fenced by the active controller on their side, also when
it was the Raft leader of the metadata quorum (issue 13: the Jepsen runs saw an isolated first
Raft leader that the new controller never fenced, about 3 isolations in 12). The isolated Raft
leader stops acting as the controller once no majority acknowledged it within its leader lease
(KRaft's check-quorum): `millrace_active_controller` on /metrics drops to 0 there, and while it
is cut off exactly one node, on the majority's side, reports 1.

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
from test_metrics_endpoint_counts_produce_consume_and_lag import scrape, total

ROUNDS = 4
# broker.session.timeout.ms (9 s) after the new controller activates, plus a Raft election
# (at most 2 s) and slack for the shared 2-vCPU machine.
FENCED_WITHIN_S = 30.0
# Kafka's default is 2000: half of it halves the wait for the survivors' early fence of the
# isolated broker (its connections to them closed) and for its return after healing.
HEARTBEAT_INTERVAL_MS = 1000
RETURNS_WITHIN_S = 60.0
# The isolated leader stops acting as the controller 1 s (its Raft leader lease) after its last
# majority acknowledgement; Kafka's resigns after 3 s. Slack for the shared machine.
STEPS_DOWN_WITHIN_S = 15.0


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


def active_controllers(cluster):
    """The nodes whose /metrics report themselves the active controller."""
    return {node_id for node_id in cluster.nodes
            if total(scrape(cluster.node(node_id).http_port), "millrace_active_controller") == 1}


def wait_active_controller(cluster, isolated, timeout_s, what):
    """Until exactly one node, not `isolated`, is the active controller; that node."""
    seen = {}

    def one_active():
        seen["active"] = active_controllers(cluster)
        return len(seen["active"]) == 1 and isolated not in seen["active"]

    try:
        workload.wait_for(one_active, what, timeout_s=timeout_s, interval_s=0.25)
    except TimeoutError as e:
        raise AssertionError(f"{e}; active controllers {seen} (isolated: {isolated})") from None
    return next(iter(seen["active"]))


def test_an_isolated_raft_leader_is_fenced_by_the_new_controller(millrace_cluster):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(
            brokers=3, extra=[f"broker.heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}"],
            proxies=proxies, http=True)
        everyone = sorted(cluster.nodes)
        wait_listed(cluster, everyone, everyone, RETURNS_WITHIN_S, "all three brokers listed")
        took = []
        for round_no in range(ROUNDS):
            leader = workload.wait_for(lambda: raft_leader(cluster, everyone), "a Raft leader")
            others = [n for n in everyone if n != leader]
            wait_active_controller(cluster, None, RETURNS_WITHIN_S,
                                   f"round {round_no}: one active controller")
            proxies.isolate(leader, everyone)
            took.append(wait_listed(
                cluster, others, others, FENCED_WITHIN_S,
                f"round {round_no}: isolated Raft leader {leader} fenced as seen by {others}"))
            # The new controller fenced it, so the majority's controller is active; the isolated
            # node, which may still name itself the Raft leader, must not be.
            wait_active_controller(
                cluster, leader, STEPS_DOWN_WITHIN_S,
                f"round {round_no}: isolated Raft leader {leader} no longer the active controller")
            proxies.heal()
            wait_listed(cluster, everyone, everyone, RETURNS_WITHIN_S,
                        f"round {round_no}: broker {leader} listed again after healing")
        print(f"isolated Raft leaders fenced after {[round(t, 1) for t in took]} s")
    finally:
        proxies.close()
