"""Issue 13: automatic leader balancing (`auto.leader.rebalance.enable`, default true,
`leader.imbalance.check.interval.seconds`, `leader.imbalance.per.broker.percentage`). A broker
killed with -9 loses its leaderships; once restarted it rejoins the ISRs (its leaders propose it
back, AlterPartition), and within a check interval the active controller moves leadership back to
it wherever it is the preferred replica. With `auto.leader.rebalance.enable=false` leadership stays
where the failover put it."""

import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from clients import quiet_config, unique_topic

pytestmark = pytest.mark.timeout(300)

BROKERS = 3
PARTITIONS = 6
# The smallest leader.imbalance.check.interval.seconds.
CHECK_INTERVAL_S = 1
ADMIN_TIMEOUT_S = 30
CLUSTER_UP_TIMEOUT_S = 60
# Half of Kafka's defaults (2 s, 9 s): the killed broker is fenced sooner (its connections closed:
# 1.5 heartbeat intervals), and its restart registers sooner (millrace lets a new incarnation of a
# broker killed -9 register once the old one's session timed out).
HEARTBEAT_INTERVAL_MS = 1000
SESSION_TIMEOUT_MS = 5000
# The controller fences a silent broker after its session at the latest.
FENCE_TIMEOUT_S = 40
# The restarted broker's ISR rejoin (its leaders' next fetch rounds), then a check interval.
REBALANCE_TIMEOUT_S = 60
# How long leadership is watched not coming back when balancing is off.
DISABLED_WATCH_S = 3 * CHECK_INTERVAL_S + 4


def wait_for(what, condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except Exception as err:  # noqa: BLE001 (retried: the cluster is changing)
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}; last: {last!r}")


def partitions(admin, topic):
    """{partition: (leader, replicas, isr)}."""
    found = admin.list_topics(topic, timeout=ADMIN_TIMEOUT_S).topics[topic].partitions
    return {p: (m.leader, list(m.replicas), sorted(m.isrs)) for p, m in found.items()}


def preferred_of(admin, topic, broker):
    return [p for p, (_, replicas, _) in partitions(admin, topic).items() if replicas[0] == broker]


def kill_and_restart_preferred(cluster, admin, topic, broker):
    """kill -9 of `broker`, wait for its leaderships to move, restart it and wait until it is
    back in every ISR. Returns the partitions it is the preferred replica of."""
    preferred = preferred_of(admin, topic, broker)
    assert preferred, partitions(admin, topic)
    wait_for(f"broker {broker} leading its preferred partitions",
             lambda: all(partitions(admin, topic)[p][0] == broker for p in preferred), ADMIN_TIMEOUT_S)
    cluster.kill(broker)
    wait_for("leadership moved away",
             lambda: all(partitions(admin, topic)[p][0] not in (broker, -1) for p in preferred),
             FENCE_TIMEOUT_S)
    cluster.node(broker).launch().wait_ready()
    wait_for(f"broker {broker} back in every ISR",
             lambda: all(broker in isr for _, _, isr in partitions(admin, topic).values()),
             REBALANCE_TIMEOUT_S)
    return preferred


def start(millrace_cluster, enabled):
    extra = [f"leader.imbalance.check.interval.seconds={CHECK_INTERVAL_S}",
             f"auto.leader.rebalance.enable={'true' if enabled else 'false'}",
             f"broker.heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}",
             f"broker.session.timeout.ms={SESSION_TIMEOUT_MS}"]
    cluster = millrace_cluster(brokers=BROKERS, extra=extra)
    admin = AdminClient(quiet_config(cluster.bootstrap))
    wait_for("3 brokers", lambda: len(admin.list_topics(timeout=5).brokers) == BROKERS,
             CLUSTER_UP_TIMEOUT_S)
    topic = unique_topic("balance")
    admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(timeout=ADMIN_TIMEOUT_S)
    wait_for("every partition led", lambda: len(partitions(admin, topic)) == PARTITIONS
             and all(leader >= 0 for leader, _, _ in partitions(admin, topic).values()), ADMIN_TIMEOUT_S)
    return cluster, admin, topic


def test_a_restarted_preferred_leader_gets_its_leadership_back(millrace_cluster):
    cluster, admin, topic = start(millrace_cluster, enabled=True)
    preferred = kill_and_restart_preferred(cluster, admin, topic, 2)
    wait_for("the preferred leader leading again",
             lambda: all(partitions(admin, topic)[p][0] == 2 for p in preferred), REBALANCE_TIMEOUT_S)
    assert all(leader == replicas[0] for leader, replicas, _ in partitions(admin, topic).values())


def test_leadership_stays_where_it_is_with_balancing_off(millrace_cluster):
    cluster, admin, topic = start(millrace_cluster, enabled=False)
    preferred = kill_and_restart_preferred(cluster, admin, topic, 2)
    deadline = time.monotonic() + DISABLED_WATCH_S
    while time.monotonic() < deadline:
        leaders = {p: partitions(admin, topic)[p][0] for p in preferred}
        assert 2 not in leaders.values(), f"leadership moved back with balancing off: {leaders}"
        time.sleep(0.5)
