"""Issues 12/13: a broker killed with -9 while the active controller moves registers again and
leads its partitions within a few seconds of its restart, not a whole session timeout.

A non-controller node and the active controller's node are killed together, so the dead
broker's registration stays unfenced in the metadata log (the old controller had no time to
fence it). The controller's node restarts and a controller activates again (on this
3-voter cluster openraft lets the restarted leader resume its committed vote; on the other
live voter otherwise): a new controller over the committed image. Then the broker restarts. It used to give it a fresh session at activation and refuse
the restarted process (DUPLICATE_BROKER_REGISTRATION) until that session ran out, a whole
`broker.session.timeout.ms` later, since it cannot tell a dead process from a live one it has
not heard from yet; until then the restarted broker leads nothing, so a partition whose only
replica it is takes no record. The fixed controller lets a new incarnation replace a
registration not heard from in its term once a live broker would have found it (one heartbeat
interval and a half after activation). The session timeout is 30 s here and the bound 15 s
from the restart (half of it: room for an election and a slow start on a loaded machine),
which the old rule cannot meet."""

import time

from confluent_kafka.admin import AdminClient, NewTopic

from clients import quiet_config, unique_topic
from test_cluster_restarted_controller_leads_again_soon import acked_within, partition_led_by
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers

SESSION_TIMEOUT_MS = 30_000
# From the restart (both processes launched) to the first acks=all ack of a partition only
# the restarted broker holds.
LEADS_AGAIN_BOUND_S = SESSION_TIMEOUT_MS / 1000 / 2
ADMIN_TIMEOUT_S = 30


ACTIVATED = "active controller from"


def activations(cluster):
    """How many times each node's log says it became the active controller."""
    return {i: cluster.node(i).stderr_path.read_text(errors="replace").count(ACTIVATED)
            for i in (1, 2, 3)}


def wait_for_new_activation(cluster, before):
    """Polls the nodes' logs until one became the active controller again since `before` (a
    new controller: fresh broker sessions over the committed image); returns its id."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while time.monotonic() < deadline:
        now = activations(cluster)
        moved = [i for i in now if now[i] > before[i]]
        if moved:
            return moved[0]
        time.sleep(0.1)
    raise AssertionError(f"no new active controller within {ADMIN_TIMEOUT_S}s: {activations(cluster)}")


def test_broker_restarted_across_a_controller_change_leads_again_within_half_a_session(
        millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=[f"broker.session.timeout.ms={SESSION_TIMEOUT_MS}"])
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    _, controller, _, _, _, _ = describe_quorum_v0(cluster.node(1).bootstrap)
    broker, other = [i for i in (1, 2, 3) if i != controller]
    topic = unique_topic("solo")
    admin = AdminClient(quiet_config(cluster.bootstrap))
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)],
                        request_timeout=ADMIN_TIMEOUT_S)[topic].result(ADMIN_TIMEOUT_S)
    partition = partition_led_by(cluster.bootstrap, topic, 3, broker)
    error, _ = acked_within(cluster.bootstrap, topic, partition, ADMIN_TIMEOUT_S)
    assert error is None, f"before the kill: {error}"

    # Together: the controller has no time to fence the broker for its lost connections.
    before = activations(cluster)
    cluster.kill(broker)
    cluster.kill(controller)
    cluster.node(controller).launch()
    # The broker starts once a new controller is active, so it is not that controller (which
    # fences its own node's dead incarnation at once).
    new_controller = wait_for_new_activation(cluster, before)
    restarted_at = time.monotonic()
    cluster.node(broker).launch()
    left_s = LEADS_AGAIN_BOUND_S - (time.monotonic() - restarted_at)
    error, took_s = acked_within(cluster.bootstrap, topic, partition, left_s)
    since_restart_s = time.monotonic() - restarted_at
    print(f"first acks=all ack on broker {broker}'s partition {since_restart_s:.2f}s after the "
          f"restart (answered {took_s:.2f}s after it was sent)")
    print(f"active controller: node {controller}, then node {new_controller} activated again")
    assert error is None, (
        f"partition {partition}, held by broker {broker} alone, took no acks=all record within "
        f"{LEADS_AGAIN_BOUND_S}s of its restart across a controller change (to node "
        f"{new_controller}; session timeout {SESSION_TIMEOUT_MS} ms): {error}")
