"""Issue 12: a 3-node cluster survives the loss of its active controller and of a broker, and
grows. kill -9 of the Raft leader: the two others elect a new one and CreateTopics sent to a
surviving broker works again within seconds. kill -9 of a broker: after the session timeout it
is fenced (gone from Metadata, its leaderships moved); restarted from the same file and data
dir it registers again and is unfenced. A fourth node (process.roles=broker) joins the running
cluster as a learner of the metadata log, appears in Metadata and receives new partitions, and
records go round through it. A restarted broker serves clients only once it has caught up with
the metadata log as far as its own registration, as Kafka's does: it never answers an existing
topic UNKNOWN_TOPIC_OR_PART (librdkafka drops the topic's partitions on that answer)."""

import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire
from clients import consume_all, new_producer, produce_all, quiet_config, unique_topic
from cluster_fixture import FAST_SESSIONS
from test_cluster_three_brokers_serve_clients import describe_quorum_v0, wait_for_brokers

ADMIN_TIMEOUT_S = 30
# From kill -9 of the leader to a CreateTopics answered: the election (about 1-2 s), then the
# new controller; generous for a loaded CI machine.
FAILOVER_TIMEOUT_S = 30
# broker.session.timeout.ms is 9 s (4.5 s with FAST_SESSIONS, which the restart tests use: a
# killed broker's restart registers once the old incarnation's session timed out); fencing
# follows at the next controller tick.
FENCE_TIMEOUT_S = 40


def create_until_done(bootstrap, topic, partitions, timeout_s):
    """CreateTopics, retried until it succeeds; returns the seconds it took."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout_s:
        admin = AdminClient(quiet_config(bootstrap))
        future = admin.create_topics([NewTopic(topic, partitions, replication_factor=1)],
                                     request_timeout=10)[topic]
        try:
            future.result(timeout=15)
            return time.monotonic() - started
        except Exception as error:  # noqa: BLE001 (any refusal is retried until the deadline)
            if "TOPIC_ALREADY_EXISTS" in str(error):
                return time.monotonic() - started
            last = error
        time.sleep(0.2)
    pytest.fail(f"CreateTopics of {topic} not done within {timeout_s}s: {last}")


def wait_for_topic(bootstrap, topic, timeout_s=ADMIN_TIMEOUT_S):
    """The topic's partitions once `bootstrap` lists it (brokers apply the metadata log each at
    its own pace, so one that did not carry out the CreateTopics may lag a little)."""
    admin = AdminClient(quiet_config(bootstrap))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            described = admin.list_topics(topic, timeout=ADMIN_TIMEOUT_S).topics.get(topic)
            if described is not None and described.error is None and described.partitions:
                return described.partitions
        except Exception:  # noqa: BLE001 (retried: the broker has not applied it yet)
            pass
        time.sleep(0.2)
    pytest.fail(f"{bootstrap} does not list {topic} within {timeout_s}s")


def test_controller_leader_kill_then_create_topics_works_again(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    _, leader, epoch, _, _, _ = describe_quorum_v0(cluster.node(1).bootstrap)
    assert leader in (1, 2, 3)
    cluster.kill(leader)
    survivor = next(i for i in (1, 2, 3) if i != leader)
    took = create_until_done(cluster.node(survivor).bootstrap, unique_topic("failover"), 3,
                             FAILOVER_TIMEOUT_S)
    print(f"CreateTopics answered {took:.2f}s after kill -9 of controller leader {leader}")
    _, new_leader, new_epoch, _, _, _ = describe_quorum_v0(cluster.node(survivor).bootstrap)
    assert new_leader != leader and new_leader in (1, 2, 3) and new_epoch > epoch


def test_killed_broker_is_fenced_then_rejoins_unfenced(millrace_cluster):
    cluster = millrace_cluster(brokers=3, extra=FAST_SESSIONS)
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    _, leader, _, _, _, _ = describe_quorum_v0(cluster.node(1).bootstrap)
    victim = next(i for i in (3, 2, 1) if i != leader)
    watcher = cluster.node(leader).bootstrap
    topic = unique_topic("fence")
    create_until_done(watcher, topic, 3, FAILOVER_TIMEOUT_S)
    cluster.kill(victim)
    metadata = wait_for_brokers(watcher, 2, FENCE_TIMEOUT_S)
    assert victim not in metadata.brokers
    partitions = wait_for_topic(watcher, topic)
    assert all(p.leader != victim for p in partitions.values()), partitions
    cluster.restart(victim)
    metadata = wait_for_brokers(watcher, 3, FENCE_TIMEOUT_S)
    assert metadata.brokers[victim].port == cluster.node(victim).port


def test_fourth_broker_joins_and_receives_new_partitions(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    joined = cluster.add_broker()
    assert joined.node_id == 4 and not joined.is_voter
    wait_for_brokers(cluster.node(1).bootstrap, 4)
    error, _, _, _, voters, observers = describe_quorum_v0(joined.bootstrap)
    assert error == 0 and sorted(v for v, _ in voters) == [1, 2, 3]
    topic = unique_topic("joined")
    create_until_done(joined.bootstrap, topic, 4, FAILOVER_TIMEOUT_S)
    partitions = wait_for_topic(cluster.node(1).bootstrap, topic)
    assert sorted(p.leader for p in partitions.values()) == [1, 2, 3, 4]
    messages = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(200)]
    log = produce_all(new_producer(cluster.node(2).bootstrap), topic, messages)
    assert not log.errors, log.errors[:5]
    got = consume_all(joined.bootstrap, topic, 4)
    assert sum(len(records) for records in got.values()) == len(messages)
    _, leader, _, _, _, observers = describe_quorum_v0(cluster.node(1).bootstrap)
    if leader == 1:
        assert [o for o, _ in observers] == [4], observers


UNKNOWN_TOPIC_OR_PARTITION = 3


def metadata_answers_from_start(node, topic, timeout_s):
    """Every distinct Metadata answer (error, partition count) for `topic` that `node` gives from
    the moment it accepts a connection until it describes the topic without error."""
    answers = []
    deadline = time.monotonic() + timeout_s
    correlation_id = 0
    while time.monotonic() < deadline:
        try:
            with kafka_wire.connect(node.bootstrap, timeout_s=timeout_s) as sock:
                while time.monotonic() < deadline:
                    correlation_id += 1
                    answer = kafka_wire.metadata_v4_partitions(sock, correlation_id, topic,
                                                               allow_auto_create=False)
                    if not answers or answers[-1] != answer:
                        answers.append(answer)
                    if answer[0] == 0:
                        return answers
                    time.sleep(0.005)
        except (OSError, ConnectionError):
            time.sleep(0.01)
    pytest.fail(f"{topic}: no answer without error from broker {node.node_id}: {answers}")


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_restarted_broker_never_answers_an_existing_topic_unknown(millrace_cluster, how):
    cluster = millrace_cluster(brokers=3, extra=FAST_SESSIONS)
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    topic = unique_topic("known")
    create_until_done(cluster.node(1).bootstrap, topic, 3, ADMIN_TIMEOUT_S)
    wait_for_topic(cluster.node(2).bootstrap, topic)
    getattr(cluster, how)(2)
    node = cluster.node(2)
    node.launch()
    # Before: [(3, 0), (0, 3)] for the first few hundred ms of each restart.
    assert metadata_answers_from_start(node, topic, FENCE_TIMEOUT_S) == [(0, 3)]
