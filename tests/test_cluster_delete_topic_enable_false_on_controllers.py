"""delete.topic.enable in a cluster: as in Kafka 4 (brokers forward DeleteTopics to the
controller, whose `ControllerApis.deleteTopics` checks it), the controllers' value counts. With
false on the controllers, a DeleteTopics sent to any broker is refused with
TOPIC_DELETION_DISABLED and the topic stays, even through a broker-only node whose own file keeps
Kafka's default (true): before the fix, only the broker the request reached checked its own
value. The whole request is refused, as Kafka's controller refuses it before any lookup: each
topic echoed as sent, an id no broker knows included, with no message. So is a request of rows
Kafka refuses as they are (a v6 row with neither a name nor an id, or with both), which the broker
does not forward: before the fix those were answered INVALID_REQUEST, as with deletion enabled.
The other way round, a broker-only node's false does not stop a deletion the controllers
allow. Every expected answer is what Kafka 4.4.0 with `delete.topic.enable=false` answered the
same requests (perf/peers/kafka.sh, raw DeleteTopics v6), 2026-12-07."""

import time
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from cluster_fixture import Cluster
from clients import create_topic, quiet_config, unique_topic
from test_cluster_three_brokers_serve_clients import wait_for_brokers, wait_for_topics
from test_delete_topics_v6_names_topic_ids import NIL, delete_topics_v6_answers, topic_id_of

pytestmark = pytest.mark.timeout(180)
SET_FALSE = "delete.topic.enable=false"
TOPIC_DELETION_DISABLED = 73
DELETED_WITHIN_S = 30


def test_delete_topics_through_a_broker_is_refused_by_the_controllers(tmp_path):
    # Nodes 1 and 2 are the controllers (and brokers); node 3, broker-only, keeps Kafka's default.
    cluster = Cluster(tmp_path / "cluster", brokers=3, voters=2, extra=[SET_FALSE])
    broker_file = cluster.node(3).config_file
    broker_file.write_text(broker_file.read_text().replace(f"{SET_FALSE}\n", ""))
    assert "delete.topic.enable" not in broker_file.read_text()
    cluster.start()
    try:
        refused_through_the_broker(cluster)
    finally:
        cluster.kill_all()


def topic_seen_by_the_broker_only_node(cluster, prefix):
    """Creates a topic through node 1 once all 3 brokers are up and waits until node 3 (the
    broker-only node) lists it; (topic, node 3's bootstrap, an admin client of node 3)."""
    bootstrap = cluster.node(3).bootstrap
    wait_for_brokers(bootstrap, 3)
    topic = unique_topic(prefix)
    create_topic(cluster.node(1).bootstrap, topic, 1)
    wait_for_topics(bootstrap, [topic])
    return topic, bootstrap, AdminClient(quiet_config(bootstrap))


def refused_through_the_broker(cluster):
    topic, bootstrap, admin = topic_seen_by_the_broker_only_node(cluster, "kept")
    with pytest.raises(KafkaException) as refused:
        admin.delete_topics([topic], operation_timeout=10)[topic].result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.TOPIC_DELETION_DISABLED, refused.value
    topic_id, unknown_id = topic_id_of(bootstrap, topic), uuid.uuid4()
    answered = delete_topics_v6_answers(bootstrap, [(topic, NIL), (None, topic_id), (None, unknown_id)])
    assert answered == [(topic, NIL, TOPIC_DELETION_DISABLED, None),
                        (None, topic_id, TOPIC_DELETION_DISABLED, None),
                        (None, unknown_id, TOPIC_DELETION_DISABLED, None)], answered
    refused_as_they_are_through_the_broker(bootstrap)
    time.sleep(1)
    for node_id in cluster.nodes:
        listed = AdminClient(quiet_config(cluster.node(node_id).bootstrap)).list_topics(timeout=10)
        assert topic in listed.topics, f"broker {node_id} lost {topic}"


def refused_as_they_are_through_the_broker(bootstrap):
    """Requests of rows only Kafka refuses as they are: every row echoed, TOPIC_DELETION_DISABLED,
    a repeated row once per time it was sent; an empty request answers nothing."""
    unknown_id = uuid.uuid4()
    for rows in ([(None, NIL)], [("both", unknown_id)], [(None, NIL), ("both", unknown_id)],
                 [(None, NIL), (None, NIL)], []):
        answered = delete_topics_v6_answers(bootstrap, rows)
        expected = [(name, topic_id, TOPIC_DELETION_DISABLED, None) for name, topic_id in rows]
        assert answered == expected, (rows, answered)


def test_a_broker_only_nodes_false_does_not_stop_a_deletion_the_controllers_allow(tmp_path):
    # Only node 3, broker-only, sets false; the controllers keep Kafka's default (true).
    cluster = Cluster(tmp_path / "cluster", brokers=3, voters=2)
    broker_file = cluster.node(3).config_file
    broker_file.write_text(broker_file.read_text() + f"{SET_FALSE}\n")
    cluster.start()
    try:
        topic, _, admin = topic_seen_by_the_broker_only_node(cluster, "deleted")
        admin.delete_topics([topic], operation_timeout=10)[topic].result(timeout=30)
        deadline = time.monotonic() + DELETED_WITHIN_S
        while topic in admin.list_topics(timeout=10).topics:
            assert time.monotonic() < deadline, f"{topic} still listed after {DELETED_WITHIN_S}s"
            time.sleep(0.2)
    finally:
        cluster.kill_all()
