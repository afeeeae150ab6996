"""Issue 13: in a cluster, InitProducerId hands out producer ids from blocks the active controller
allotted (AllocateProducerIds, key 67, committed to the metadata log), so idempotent producers on
different brokers never share an id, and a restart of every broker keeps them unique. Before,
each broker made ids from its own clock and shard number: two brokers could hand out the same id
in the same millisecond."""

import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire
from clients import new_producer, produce_all, quiet_config, unique_topic

BROKERS = 3
IDS_PER_BROKER = 25
# Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE: the controller's block length.
BLOCK_LEN = 1000
COORDINATOR_NOT_AVAILABLE = 15
CLUSTER_UP_TIMEOUT_S = 60
ADMIN_TIMEOUT_S = 30


def wait_for_brokers(bootstrap, count, timeout_s=CLUSTER_UP_TIMEOUT_S):
    admin = AdminClient(quiet_config(bootstrap))
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
            if len(seen.brokers) == count:
                return
        except Exception as error:  # noqa: BLE001 (retried: the cluster is still forming)
            seen = error
        time.sleep(0.5)
    pytest.fail(f"{bootstrap}: {count} brokers not listed within {timeout_s}s: {seen}")


def producer_ids(bootstrap, count, timeout_s=CLUSTER_UP_TIMEOUT_S):
    """`count` InitProducerId v4 answers from the broker at `bootstrap`, retrying
    COORDINATOR_NOT_AVAILABLE (no block yet: the broker is still registering)."""
    ids = []
    deadline = time.monotonic() + timeout_s
    with kafka_wire.connect(bootstrap) as sock:
        correlation = 1
        while len(ids) < count:
            correlation += 1
            error, producer_id, epoch = kafka_wire.init_producer_id_v4(sock, correlation)
            if error == COORDINATOR_NOT_AVAILABLE and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            assert (error, epoch) == (0, 0), f"{bootstrap}: InitProducerId error {error}"
            ids.append(producer_id)
    return ids


def ids_by_broker(cluster):
    return {
        node_id: producer_ids(node.bootstrap, IDS_PER_BROKER)
        for node_id, node in cluster.nodes.items()
    }


def assert_from_blocks(by_broker, earlier=()):
    every = [i for ids in by_broker.values() for i in ids]
    assert len(set(every)) == len(every), f"a producer id handed out twice: {by_broker}"
    assert not set(every) & set(earlier), "an id handed out before the restart came again"
    for node_id, ids in by_broker.items():
        assert all(0 <= i < 1000 * BLOCK_LEN for i in ids), f"broker {node_id}: {ids}"
        blocks = {i // BLOCK_LEN for i in ids}
        assert len(blocks) == 1, f"broker {node_id} (one shard) uses one block: {ids}"
        assert ids == sorted(ids), f"broker {node_id}: ids go up within a block: {ids}"
    owners = [{i // BLOCK_LEN for i in ids} for ids in by_broker.values()]
    assert len(set().union(*owners)) == len(by_broker), f"each broker has its own block: {owners}"
    return every


def test_producer_ids_are_unique_across_brokers_and_restarts(millrace_cluster):
    cluster = millrace_cluster(brokers=BROKERS)
    wait_for_brokers(cluster.bootstrap, BROKERS)
    first = assert_from_blocks(ids_by_broker(cluster))

    # Idempotent producers, each bootstrapped from one broker, work against the cluster.
    topic = unique_topic("pids")
    admin = AdminClient(quiet_config(cluster.bootstrap))
    futures = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    for node in cluster.nodes.values():
        producer = new_producer(node.bootstrap, **{"enable.idempotence": True})
        log = produce_all(producer, topic, [(b"k", f"v{i}".encode()) for i in range(30)])
        assert not log.errors, log.errors

    # kill -9 of every broker, then a restart: the next blocks start past every block
    # allotted before (the controller's high mark is in the metadata log).
    for node_id in cluster.nodes:
        cluster.kill(node_id)
    for node_id in cluster.nodes:
        cluster.node(node_id).launch()
    for node in cluster.nodes.values():
        node.wait_ready()
    wait_for_brokers(cluster.bootstrap, BROKERS)
    second = assert_from_blocks(ids_by_broker(cluster), earlier=first)
    assert min(second) > max(first), "blocks after the restart come after every earlier one"
