"""A cluster node stopped cleanly (SIGTERM: a controlled shutdown the controller allows) and
started again registers at once: the clean-shutdown marker keeps the broker epoch the controller
let exit, and the new process names it as `previous_broker_epoch`, so the controller lets the new
incarnation take the id without waiting for the old session to time out. (Apache Kafka 4.4.0
does wait: its controller answered a cleanly restarted broker DUPLICATE_BROKER_REGISTRATION for
6 s, until the old session ran out; perf/RESULTS.md, 2026-12-07.)

Before the fix the marker held no epoch and every restart sent -1: the controller kept the id
for the old process until `broker.session.timeout.ms` ran out (found by
perf/cluster_restart.py: 9 s with Kafka's default). Here the session timeout is 40 s, so waiting
for it cannot pass for registering at once. The node restarted is not the active controller:
stopping that one starts a new controller, which frees an id it has not heard from after a
grace of 1.5 heartbeat intervals, whatever the marker says.

The marker is consumed at start, so a process killed with -9 leaves none, and the next one
names no epoch: a crashed process cannot vouch that it stopped, and its successor waits for the
old session as in Kafka (DUPLICATE_BROKER_REGISTRATION until it expires; not waited for here)."""

import time

import pytest

from cluster_fixture import Cluster
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers

pytestmark = pytest.mark.timeout(240)
SESSION_TIMEOUT_MS = 40_000
# Far below the session timeout: a start that waited for the old session cannot pass.
CLEAN_RESTART_SERVING_WITHIN_S = 20
EPOCH_LINE = "broker.epoch="


def raft_leader(cluster, asked):
    error, leader, _, _, _, _ = describe_quorum_v0(cluster.node(asked).bootstrap)
    assert error == 0 and leader in cluster.nodes, (error, leader)
    return leader


def stop_a_node_that_is_not_the_controller(cluster, attempts=3):
    """SIGTERM of a node that is not the Raft leader, checked again after the stop (leadership
    could move meanwhile, and a new controller frees the id anyway): (leader, node stopped)."""
    for _ in range(attempts):
        leader = raft_leader(cluster, min(cluster.nodes))
        node_id = next(i for i in sorted(cluster.nodes) if i != leader)
        assert cluster.stop(node_id) == 0
        if raft_leader(cluster, leader) == leader:
            return leader, node_id
        cluster.restart(node_id)
        wait_for_brokers(cluster.node(node_id).bootstrap, 3)
    pytest.fail(f"the Raft leader moved in each of {attempts} attempts")


def test_a_cleanly_stopped_node_registers_again_without_waiting_for_its_old_session(tmp_path):
    cluster = Cluster(tmp_path / "cluster", brokers=3,
                      extra=[f"broker.session.timeout.ms={SESSION_TIMEOUT_MS}"])
    cluster.start()
    try:
        for i in cluster.nodes:
            wait_for_brokers(cluster.node(i).bootstrap, 3)
        leader, node_id = stop_a_node_that_is_not_the_controller(cluster)
        node = cluster.node(node_id)
        marker = (node.data_dir / ".millrace_clean_shutdown").read_text()
        assert EPOCH_LINE in marker, f"the marker names no broker epoch: {marker!r}"
        started = time.monotonic()
        node.launch().wait_ready(timeout_s=SESSION_TIMEOUT_MS / 1000 + 30)
        wait_for_brokers(cluster.node(leader).bootstrap, 3)
        serving_s = time.monotonic() - started
        assert serving_s < CLEAN_RESTART_SERVING_WITHIN_S, (
            f"node {node_id} served again after {serving_s:.1f}s: it waited for its old session "
            f"({SESSION_TIMEOUT_MS} ms)")
        cluster.kill(node_id)
        assert not (node.data_dir / ".millrace_clean_shutdown").exists(), "a crash left a marker"
    finally:
        cluster.kill_all()
