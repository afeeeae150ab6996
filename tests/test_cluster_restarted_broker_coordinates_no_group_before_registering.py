"""Issue 13: a broker restarted after kill -9 that has not registered again coordinates no
group and takes no record.

Its metadata log, replayed at the start, still names its dead incarnation: leader of an offsets
partition (so coordinator of that partition's groups) and of its own partitions. Those
leaderships belong to a process that is gone: until the controller registers this one and
gives it leader epochs of its own, it must not answer FindCoordinator naming itself, JoinGroup
or OffsetCommit as the coordinator, or Produce as the leader. Since 2026-12-06 a cluster broker
serves clients only once its view holds its own registration (as Kafka's enables request
processing once caught up): before that it answers nothing at all, and any answer it gives must
be one of a broker that leads nothing.

The window is made to last: with `broker.session.timeout.ms` at 30 s the controller keeps the
dead incarnation's registration (its session) for up to 30 s, and the restart, back within a
heartbeat interval, keeps it from being fenced for lost connections; the new incarnation is
refused registration (DUPLICATE_BROKER_REGISTRATION) all the while it is asked here, which the
test checks in its log.

The controller voters are nodes 1 and 2 and the victim is node 3, a broker-only node, so the
controller never moves to the victim. With three voters a restarted voter sometimes won an
election right after its restart (no pre-vote: its higher term made the active controller step
down; 1 run in 8 on a loaded machine), and a controller rightly fences its own process's dead
incarnation at once (`fence_dead_local_incarnation`), so the victim registered again and led at
a new epoch within a second, which is not the window this test asks about.
"""

import time

import kafka_wire as wire
from confluent_kafka.admin import AdminClient, NewTopic

from clients import quiet_config, unique_topic, wait_for_partitions
from jepsen.workload import wait_for
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers

SESSION_TIMEOUT_MS = 30_000
# Nodes 1 and 2: the victim (node 3) is never a controller candidate.
CONTROLLER_VOTERS = 2
ADMIN_TIMEOUT_S = 30
GROUPS_TRIED_MAX = 200
# How long the restarted victim is asked, every answer checked.
ASKED_FOR_S = 3.0
# An answer not back within this counts as none: the restart is not serving yet.
ANSWER_WAIT_S = 1.0
REFUSED_BY_NON_COORDINATOR = (wire.ERROR_NOT_COORDINATOR, wire.ERROR_COORDINATOR_NOT_AVAILABLE)


def coordinator_of(sock, correlation_id, group):
    """The node FindCoordinator names for `group`, or None while it names none."""
    error, node = wire.find_coordinator_v1(sock, correlation_id, group)
    return node if error == wire.ERROR_NONE else None


def group_coordinated_by(bootstrap, node):
    """A group id the cluster's FindCoordinator names `node` for (the first call creates
    __consumer_offsets)."""
    with wire.connect(bootstrap) as sock:
        for i in range(GROUPS_TRIED_MAX):
            group = f"group-{i}"
            coordinator = wait_for(lambda: coordinator_of(sock, 100 + i, group),
                                   f"a coordinator for {group}", ADMIN_TIMEOUT_S)
            if coordinator == node:
                return group
    raise AssertionError(f"no group of {GROUPS_TRIED_MAX} coordinated by node {node}")


def partition_led_by(bootstrap, topic, partitions, node):
    admin = AdminClient(quiet_config(bootstrap))

    def led():
        metadata = wait_for_partitions(admin, topic, partitions)
        leaders = {p: m.leader for p, m in metadata.topics[topic].partitions.items()}
        if all(leader >= 0 for leader in leaders.values()):
            return [p for p, leader in leaders.items() if leader == node] or [None]
        return None

    partition = wait_for(led, f"leaders of {topic}", ADMIN_TIMEOUT_S)[0]
    assert partition is not None, f"placement put no partition of {topic} on node {node}"
    return partition


def one_record():
    return wire.encode_record_batch([(b"k", b"stale leader")], int(time.time() * 1000))


def test_restarted_broker_coordinates_no_group_and_takes_no_record_before_registering(
        millrace_cluster):
    cluster = millrace_cluster(brokers=3, voters=CONTROLLER_VOTERS,
                               extra=[f"broker.session.timeout.ms={SESSION_TIMEOUT_MS}"])
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    _, controller, _, _, _, _ = describe_quorum_v0(cluster.node(1).bootstrap)
    assert controller in (1, 2), f"node {controller} leads a quorum of nodes 1 and 2"
    victim_id = 3
    victim = cluster.node(victim_id).bootstrap
    topic = unique_topic("held")
    admin = AdminClient(quiet_config(cluster.bootstrap))
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)],
                        request_timeout=ADMIN_TIMEOUT_S)[topic].result(ADMIN_TIMEOUT_S)
    partition = partition_led_by(cluster.bootstrap, topic, 3, victim_id)
    group = group_coordinated_by(victim, victim_id)
    with wire.connect(victim) as sock:
        # The live victim coordinates the group and leads the partition.
        wait_for(lambda: wire.offset_commit_v2(sock, 1, group, topic, partition, 1) == wire.ERROR_NONE,
                 "a commit at the live coordinator", ADMIN_TIMEOUT_S)
        answers = wire.produce_v3(sock, 2, topic, {partition: one_record()})
        assert answers[partition][0] == wire.ERROR_NONE, answers

    cluster.kill(victim_id)
    restarted = cluster.node(victim_id).launch()
    seen, unanswered = [], 0
    deadline = time.monotonic() + ASKED_FOR_S
    correlation_id = 10
    while time.monotonic() < deadline:
        correlation_id += 4
        try:
            seen.append(asked_once(victim, correlation_id, topic, partition, group))
        except (OSError, ConnectionError):
            unanswered += 1  # refused (not listening yet) or no answer: not served
        time.sleep(0.2)
    log = restarted.stderr_path.read_text(errors="replace")
    last_start = log.rsplit("===== start #", 1)[-1]
    assert f"broker {victim_id}: Recovery" not in last_start, \
        "the restart registered within the window: nothing was asked of an unregistered broker"
    print(f"{unanswered} round(s) unanswered, {len(seen)} answered by the unregistered restart")
    wrong = {
        "FindCoordinator naming itself": [s for s in seen
                                          if s["find_coordinator"] == (wire.ERROR_NONE, victim_id)],
        "OffsetCommit not refused": [s for s in seen
                                     if s["offset_commit"] not in REFUSED_BY_NON_COORDINATOR],
        "JoinGroup not refused": [s for s in seen if s["join_group"] not in REFUSED_BY_NON_COORDINATOR],
        "Produce not NOT_LEADER_OR_FOLLOWER": [
            s for s in seen if s["produce"] != wire.ERROR_NOT_LEADER_OR_FOLLOWER],
    }
    wrong = {what: rounds for what, rounds in wrong.items() if rounds}
    assert not wrong, (f"node {victim_id}, restarted and not registered, answered from its dead "
                       f"incarnation's state ({len(seen)} rounds): {wrong}")


def asked_once(bootstrap, correlation_id, topic, partition, group):
    """One round of requests on a new connection, each answer awaited at most ANSWER_WAIT_S."""
    with wire.connect(bootstrap, timeout_s=ANSWER_WAIT_S) as sock:
        produced = wire.produce_v3(sock, correlation_id, topic, {partition: one_record()},
                                   timeout_ms=1000)[partition][0]
        found = wire.find_coordinator_v1(sock, correlation_id + 1, group)
        commit = wire.offset_commit_v2(sock, correlation_id + 2, group, topic, partition, 2)
        join = wire.join_group_v1(sock, correlation_id + 3, group)
    return {"produce": produced, "find_coordinator": found, "offset_commit": commit,
            "join_group": join}
