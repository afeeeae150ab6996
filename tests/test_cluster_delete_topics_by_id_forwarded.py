"""DeleteTopics v6 by topic id in a cluster: the broker forwards every id to the controller, as
Kafka 4.4's brokers do (its controller resolves ids, `ControllerApis.deleteTopics`).
Before the fix a broker resolved ids to names itself and forwarded names only, so a request of
ids it had not applied yet answered UNKNOWN_TOPIC_ID where Kafka deletes the topic, and with
`delete.topic.enable=false` on the controllers a request of only unknown ids answered
UNKNOWN_TOPIC_ID (100) where Kafka answers TOPIC_DELETION_DISABLED (73).

An id no broker knows answers as Kafka's: a null name (millrace sent an empty one) and Kafka's
message.

Three `millrace serve` nodes (num.shards=1): nodes 1 and 2 are the controller voters, node 3 is
broker-only, so it is never the controller and every DeleteTopics it gets is forwarded. Requests
are raw DeleteTopics v6 (confluent-kafka's AdminClient deletes by name only)."""

import signal
import threading
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient

from cluster_fixture import Cluster
from clients import create_topic, quiet_config, unique_topic
from test_cluster_three_brokers_serve_clients import wait_for_brokers, wait_for_topics
from test_delete_topics_v6_names_topic_ids import (
    UNKNOWN_TOPIC_ID_MESSAGE, delete_topics_v6_answers, topic_id_of,
)

pytestmark = pytest.mark.timeout(240)
BROKERS, VOTERS = 3, 2
BROKER_ONLY = 3
NONE, UNKNOWN_TOPIC_ID, TOPIC_DELETION_DISABLED = 0, 100, 73
SET_FALSE = "delete.topic.enable=false"
GONE_WITHIN_S = 30
# How long node 3 sleeps (SIGSTOP) while a topic is created and its DeleteTopics arrives: well
# under broker.session.timeout.ms (9 s), so it is not fenced meanwhile.
PAUSE_S = 1.5
# The same for a deletion and a creation: still well under the session timeout.
STALE_PAUSE_S = 3.0


def wait_gone_everywhere(cluster, topic):
    """Waits until no broker lists `topic`."""
    deadline = time.monotonic() + GONE_WITHIN_S
    for node_id in cluster.nodes:
        admin = AdminClient(quiet_config(cluster.node(node_id).bootstrap))
        while topic in admin.list_topics(timeout=10).topics:
            assert time.monotonic() < deadline, f"broker {node_id} still lists {topic}"
            time.sleep(0.2)


def cluster_up(millrace_cluster):
    cluster = millrace_cluster(brokers=BROKERS, voters=VOTERS)
    wait_for_brokers(cluster.node(BROKER_ONLY).bootstrap, BROKERS)
    return cluster


def test_delete_by_id_through_a_broker_that_is_not_the_controller(millrace_cluster):
    cluster = cluster_up(millrace_cluster)
    bootstrap = cluster.node(BROKER_ONLY).bootstrap
    topic = unique_topic("del-by-id")
    create_topic(cluster.node(1).bootstrap, topic, 1)
    wait_for_topics(bootstrap, [topic])
    topic_id = topic_id_of(bootstrap, topic)

    answered = delete_topics_v6_answers(bootstrap, [(None, topic_id)])

    assert answered == [(topic, topic_id, NONE, None)], answered
    wait_gone_everywhere(cluster, topic)
    unknown = uuid.uuid4()
    answered = delete_topics_v6_answers(bootstrap, [(None, unknown)])
    assert answered == [(None, unknown, UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_ID_MESSAGE)], answered


def test_delete_by_an_id_the_broker_has_not_applied_yet(millrace_cluster):
    """Node 3 is paused while the topic is created and while the DeleteTopics by its id reaches
    it (the kernel accepts the connection and holds the request), then resumed: it reads the
    request before the metadata records of the topic (before the fix this answered
    UNKNOWN_TOPIC_ID in each of 4 runs), so only the controller can resolve the id. Were the
    records first, Kafka's answer would be the same: the deletion, with the topic's name."""
    cluster = cluster_up(millrace_cluster)
    paused = cluster.node(BROKER_ONLY)
    topic = unique_topic("del-unapplied")
    paused.process.send_signal(signal.SIGSTOP)
    resume = threading.Timer(PAUSE_S, paused.process.send_signal, [signal.SIGCONT])
    try:
        create_topic(cluster.node(1).bootstrap, topic, 1)
        topic_id = topic_id_of(cluster.node(1).bootstrap, topic)
        resume.start()
        answered = delete_topics_v6_answers(paused.bootstrap, [(None, topic_id)])
    finally:
        resume.cancel()
        paused.process.send_signal(signal.SIGCONT)

    assert answered == [(topic, topic_id, NONE, None)], answered
    wait_gone_everywhere(cluster, topic)


def test_a_stale_broker_forwards_a_known_id_and_never_deletes_a_newer_topic_of_that_name(
    millrace_cluster,
):
    """Node 3 knows topic T by id X, then is paused while T is deleted and created again (id Y)
    through node 1, and while a DeleteTopics by X reaches it. Resumed, it reads the request
    before applying the records (as in the test above), so its table still maps X to T. Kafka's
    brokers forward the id and its controller answers UNKNOWN_TOPIC_ID; a broker that resolved X
    to the name T itself forwarded "T" and deleted the new topic Y."""
    cluster = cluster_up(millrace_cluster)
    paused = cluster.node(BROKER_ONLY)
    topic = unique_topic("del-stale-id")
    create_topic(cluster.node(1).bootstrap, topic, 1)
    wait_for_topics(paused.bootstrap, [topic])
    old_id = topic_id_of(paused.bootstrap, topic)
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    paused.process.send_signal(signal.SIGSTOP)
    resume = threading.Timer(STALE_PAUSE_S, paused.process.send_signal, [signal.SIGCONT])
    try:
        admin.delete_topics([topic])[topic].result(timeout=10)
        create_topic(cluster.node(1).bootstrap, topic, 1)
        new_id = topic_id_of(cluster.node(1).bootstrap, topic)
        assert new_id != old_id
        resume.start()
        answered = delete_topics_v6_answers(paused.bootstrap, [(None, old_id)])
    finally:
        resume.cancel()
        paused.process.send_signal(signal.SIGCONT)

    assert answered == [(None, old_id, UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_ID_MESSAGE)], answered
    assert topic_id_of(cluster.node(1).bootstrap, topic) == new_id


def test_deletion_disabled_on_the_controllers_refuses_an_id_only_request(tmp_path):
    """The controllers set delete.topic.enable=false; node 3's file keeps Kafka's default. Each
    request of ids alone, known or not, is refused whole: the id echoed, no name, code 73."""
    cluster = Cluster(tmp_path / "cluster", brokers=BROKERS, voters=VOTERS, extra=[SET_FALSE])
    broker_file = cluster.node(BROKER_ONLY).config_file
    broker_file.write_text(broker_file.read_text().replace(f"{SET_FALSE}\n", ""))
    cluster.start()
    try:
        refused_by_id(cluster)
    finally:
        cluster.kill_all()


def refused_by_id(cluster):
    bootstrap = cluster.node(BROKER_ONLY).bootstrap
    wait_for_brokers(bootstrap, BROKERS)
    topic = unique_topic("kept-by-id")
    create_topic(cluster.node(1).bootstrap, topic, 1)
    wait_for_topics(bootstrap, [topic])
    known, unknown = topic_id_of(bootstrap, topic), uuid.uuid4()

    for topic_id in (unknown, known):
        answered = delete_topics_v6_answers(bootstrap, [(None, topic_id)])
        assert answered == [(None, topic_id, TOPIC_DELETION_DISABLED, None)], answered
    answered = delete_topics_v6_answers(bootstrap, [(None, unknown), (None, known)])
    assert answered == [(None, unknown, TOPIC_DELETION_DISABLED, None),
                        (None, known, TOPIC_DELETION_DISABLED, None)], answered
    assert topic_id_of(bootstrap, topic) == known
