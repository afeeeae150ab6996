"""delete.topic.enable=false in a cluster: as in Kafka 4 (brokers forward DeleteTopics to the
controller, whose `ControllerApis.deleteTopics` checks it), the controllers' value counts. A
DeleteTopics sent to any broker is refused per topic with TOPIC_DELETION_DISABLED and the topic
stays, even through a broker-only node whose own file keeps Kafka's default (true): before the
fix, only the broker the request reached checked its own value."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from cluster_fixture import Cluster
from clients import create_topic, quiet_config, unique_topic
from test_cluster_three_brokers_serve_clients import wait_for_brokers, wait_for_topics

pytestmark = pytest.mark.timeout(180)
SET_FALSE = "delete.topic.enable=false"


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


def refused_through_the_broker(cluster):
    bootstrap = cluster.node(3).bootstrap
    wait_for_brokers(bootstrap, 3)
    topic = unique_topic("kept")
    create_topic(cluster.node(1).bootstrap, topic, 1)
    wait_for_topics(bootstrap, [topic])
    admin = AdminClient(quiet_config(bootstrap))
    with pytest.raises(KafkaException) as refused:
        admin.delete_topics([topic], operation_timeout=10)[topic].result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.TOPIC_DELETION_DISABLED, refused.value
    time.sleep(1)
    for node_id in cluster.nodes:
        listed = AdminClient(quiet_config(cluster.node(node_id).bootstrap)).list_topics(timeout=10)
        assert topic in listed.topics, f"broker {node_id} lost {topic}"
