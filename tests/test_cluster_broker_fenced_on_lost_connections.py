"""A broker killed -9 is fenced long before broker.session.timeout.ms (issue 13: failover under
6 s with Kafka's default timeouts). The kernel closes a dead process's connections at once, and
the active controller fences a broker whose connections to it all closed and that did not come
back once its next heartbeat is overdue (one broker.heartbeat.interval.ms after its last, or after
the controller's activation, plus half an interval for a reconnect). A live broker whose
connections are reset reconnects and heartbeats in time, and is not fenced.

Every node runs with a session timeout far longer than the early fence (16 s for the killed
broker, 30 s for the live one), so a fence within FENCED_WITHIN_S (half the session) can only be
the early one. The killed-broker test runs broker.heartbeat.interval.ms=1000 (Kafka's default is
2000), which halves the early fence's deadline and the wait of the killed node's restart: millrace
lets a new incarnation of a broker killed -9 register only once the old one's session timed out
(or across a controller change). The live-broker test keeps Kafka's 2000: its broker has half an
interval to reconnect after a reset, and 0.5 s is too little on a loaded 2-vCPU CI machine. Metadata is asked of the survivors over raw sockets
(test_cluster_isolated_raft_leader_is_fenced.py's helpers).
"""

import os
import time

from confluent_kafka.admin import AdminClient, NewTopic

from jepsen import workload
from jepsen.proxy import ProxyNet
from test_cluster_isolated_raft_leader_is_fenced import (
    metadata_broker_ids, raft_leader, wait_listed)

# Killed: the restarted node waits out the rest of this session before it registers again.
KILLED_SESSION_TIMEOUT_MS = 16_000
# Live: a wrong early fence of a live broker is at most one per session timeout (sessions.rs).
LIVE_SESSION_TIMEOUT_MS = 30_000
HEARTBEAT_INTERVAL_MS = 1_000
LIVE_HEARTBEAT_INTERVAL_MS = 2_000


def extra(session_timeout_ms, heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS):
    return (
        f"broker.session.timeout.ms={session_timeout_ms}",
        f"broker.heartbeat.interval.ms={heartbeat_interval_ms}",
        "default.replication.factor=3",
        "min.insync.replicas=2",
    )


# Half the session timeout: the early fence (at most 1.5 s after the kill, that plus a Raft
# election after the controller's) with room for the shared machine.
FENCED_WITHIN_S = KILLED_SESSION_TIMEOUT_MS / 2000
CLUSTER_READY_S = 60.0
PARTITIONS = 3
# How long a live broker is watched after its connections are reset: past the fence's deadline
# (1.5 heartbeat intervals) twice over.
WATCH_S = 3 * LIVE_HEARTBEAT_INTERVAL_MS / 1000
# Resets per test: 3 in the default suite (its time bound), 12 in the extended mode.
RESET_ROUNDS = 12 if os.environ.get("MILLRACE_TEST_JEPSEN_EXTENDED") == "1" else 3


def leaders(cluster, node_id, topic):
    states = workload.partition_states(cluster.node(node_id).bootstrap, topic)
    return {p: leader for p, (leader, _, _) in states.items()}


def test_a_killed_broker_is_fenced_before_its_session_times_out(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=extra(KILLED_SESSION_TIMEOUT_MS))
    everyone = sorted(cluster.nodes)
    wait_listed(cluster, everyone, everyone, CLUSTER_READY_S, "all three brokers listed")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("t", PARTITIONS, 3)])["t"].result(timeout=30)
    took = []
    # First a broker that is not the active controller, then the active controller itself
    # (the next one must fence it: it saw the dead node's Raft connection close).
    for controller_too in (False, True):
        controller = workload.wait_for(lambda: raft_leader(cluster, everyone), "a Raft leader")
        victim = controller if controller_too else min(n for n in everyone if n != controller)
        others = [n for n in everyone if n != victim]
        cluster.kill(victim)
        took.append(wait_listed(
            cluster, others, others, FENCED_WITHIN_S,
            f"broker {victim} (controller: {controller_too}) killed -9, fenced early"))
        moved = workload.wait_for(
            lambda: (lambda now: len(now) == PARTITIONS and victim not in now.values()
                     and -1 not in now.values() and now)(leaders(cluster, others[0], "t")),
            f"every partition led by a survivor of {victim}", timeout_s=FENCED_WITHIN_S)
        print(f"killed {victim}: fenced after {took[-1]:.1f} s, leaders {moved}")
        cluster.restart(victim)
        wait_listed(cluster, everyone, everyone, CLUSTER_READY_S, f"broker {victim} back")


def test_a_live_broker_whose_controller_connections_are_reset_stays_unfenced(millrace_cluster):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(brokers=3, extra=extra(LIVE_SESSION_TIMEOUT_MS, LIVE_HEARTBEAT_INTERVAL_MS),
                                   proxies=proxies)
        everyone = sorted(cluster.nodes)
        wait_listed(cluster, everyone, everyone, CLUSTER_READY_S, "all three brokers listed")
        for round_no in range(RESET_ROUNDS):
            controller = workload.wait_for(lambda: raft_leader(cluster, everyone),
                                           "a Raft leader")
            live = [n for n in everyone if n != controller][round_no % 2]
            # Resets land at points spread over the broker's heartbeat cycle.
            time.sleep(round_no * (LIVE_HEARTBEAT_INTERVAL_MS / 1000) / RESET_ROUNDS)
            proxies.reset_link(live, controller)
            deadline = time.monotonic() + WATCH_S
            while time.monotonic() < deadline:
                listed = metadata_broker_ids(cluster.node(controller).bootstrap)
                assert listed is None or live in listed, (
                    f"round {round_no}: live broker {live} fenced after its connections to "
                    f"controller {controller} were reset: Metadata lists {listed}")
                time.sleep(0.1)
    finally:
        proxies.close()
