"""A CreateTopics of many partitions (opened concurrently, their directories made durable in
one batch: issue 12's creation benchmark) answers only once every partition is open: right
after the answer, Metadata lists them all, each partition directory holds its segment file,
and a kill -9 at that moment loses neither the topic nor any partition: after the restart all
are listed, and the first and last take records and give them back."""

import time

from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire
from clients import (ADMIN_TIMEOUT_S, CONSUME_TIMEOUT_S, new_consumer, new_producer, produce_all,
                     quiet_config, unique_topic)

PARTITIONS = 300
SHARDS = 2
FIRST_SEGMENT = "00000000000000000000.log"


def listed_partitions(bootstrap, topic):
    with kafka_wire.connect(bootstrap) as sock:
        return kafka_wire.metadata_v4_partitions(sock, 1, topic, allow_auto_create=False)


def test_partitions_of_an_answered_create_topics_survive_a_kill(broker):
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("many-partitions")
    admin = AdminClient(quiet_config(b.bootstrap))
    futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
                                  request_timeout=ADMIN_TIMEOUT_S)
    futures[topic].result(timeout=ADMIN_TIMEOUT_S)

    # Answered means applied: no wait for propagation on one node.
    assert listed_partitions(b.bootstrap, topic) == (0, PARTITIONS)
    for partition in range(PARTITIONS):
        assert (b.data_dir / f"{topic}-{partition}" / FIRST_SEGMENT).is_file(), partition

    b.kill()
    b.start()
    assert listed_partitions(b.bootstrap, topic) == (0, PARTITIONS)
    edges = [0, PARTITIONS - 1]
    producer = new_producer(b.bootstrap, acks="all")
    for partition in edges:
        log = produce_all(producer, topic, [(b"k", f"v{partition}".encode())], partition=partition)
        assert not log.errors, log.errors
    assert consume_values(b.bootstrap, topic, edges) == {p: [f"v{p}".encode()] for p in edges}


def consume_values(bootstrap, topic, partitions):
    """{partition: [value, ...]} of one record per partition, read from the earliest offset."""
    consumer = new_consumer(bootstrap)
    received = {p: [] for p in partitions}
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while any(not values for values in received.values()) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10, timeout=0.5):
                if msg.error() is None:
                    received[msg.partition()].append(msg.value())
    finally:
        consumer.close()
    return received


def test_directories_of_many_new_partitions_survive_a_power_loss(broker, monkeypatch):
    """The test-only fault plan (see test_storage_faults_power_loss_keeps_new_partition.py) drops,
    at its crash, every directory whose parent was not fsynced since it was created: all the
    partition directories of a large CreateTopics must be there after it, and a record
    acknowledged with acks=all in the last partition after the restart."""
    monkeypatch.setenv("MILLRACE_ALLOW_FAULT_INJECTION", "1")
    topic = unique_topic("many-newdirs")
    torn_segment = f"{topic}-0/{FIRST_SEGMENT}"
    b = broker(**{"storage.fault.plan": f"torn-write:nth=1:bytes=0:file={torn_segment}"})
    admin = AdminClient(quiet_config(b.bootstrap))
    futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
                                  request_timeout=ADMIN_TIMEOUT_S)
    futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    last = PARTITIONS - 1
    producer = new_producer(b.bootstrap, acks="all", retries=0, **{"enable.idempotence": False})
    kept = produce_all(producer, topic, [(b"k", b"acknowledged")], partition=last)
    assert len(kept.delivered) == 1, kept.errors
    torn = produce_all(producer, topic, [(b"k", b"torn")], partition=0)
    assert not torn.delivered, "a record was acknowledged by the crashed disk"

    missing = [p for p in range(PARTITIONS) if not (b.data_dir / f"{topic}-{p}").is_dir()]
    assert missing == [], f"partition directories lost in the power loss: {missing}"
    b.kill()
    del b.overrides["storage.fault.plan"]
    b.start()
    assert consume_values(b.bootstrap, topic, [last]) == {last: [b"acknowledged"]}
