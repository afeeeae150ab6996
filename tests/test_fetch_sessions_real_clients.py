"""Real consumers with incremental fetch sessions (KIP-227): the Java client and franz-go in
consumer groups whose partitions move between members (so sessions gain and forget
partitions), and kafka-python over many partitions fed in waves (so most incremental answers
carry a few partitions). Every record is checked, and the broker's metrics show the fetches
were served within sessions (millrace_incremental_fetches_total). librdkafka (confluent-kafka,
kcat) sends no fetch sessions (session id 0, epoch -1): its consumers are covered by their
own tests, unchanged."""

import re
import time
import urllib.request

import pytest
from kafka import KafkaConsumer, TopicPartition

from clients import create_topic, new_producer, produce_all, unique_topic
from conftest import HOST, free_port
from goclients.harness import franz
from java_clients import driver
from test_java_consumer_groups_assignors_and_static_membership import check_exactly_once, replay

pytestmark = pytest.mark.timeout(180)
GROUP_PARTITIONS = 6
WAVE_PARTITIONS = 24
WAVES = 5
RECORDS_PER_WAVE = 3
CONSUME_DEADLINE_S = 60.0
INCREMENTAL = re.compile(r"^millrace_incremental_fetches_total\{[^}]*\} (\d+)", re.MULTILINE)


def incremental_fetches(http_port):
    with urllib.request.urlopen(f"http://{HOST}:{http_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(int(value) for value in INCREMENTAL.findall(text))


def broker_with_metrics(broker):
    http_port = free_port()
    b = broker(**{"num.shards": 2, "http.listener": f"{HOST}:{http_port}", "group.initial.rebalance.delay.ms": 0})
    return b.bootstrap, http_port


def test_java_consumer_group_fetches_in_sessions_while_partitions_move(broker):
    bootstrap, http_port = broker_with_metrics(broker)
    result = driver(
        "group-rebalance",
        bootstrap=bootstrap,
        topic=unique_topic("java-sessions"),
        group=unique_topic("java-sessions-group"),
        assignor="cooperative-sticky",
        partitions=GROUP_PARTITIONS,
        deadline_ms=90000,
    )
    (a, b) = result["members"]
    check_exactly_once(result, [replay(a)[0], replay(b)[0]])
    assert incremental_fetches(http_port) > 0, "the Java consumer fetched without an incremental session"


def test_franz_go_consumer_group_fetches_in_sessions_while_partitions_move(broker):
    bootstrap, http_port = broker_with_metrics(broker)
    topic = unique_topic("franz-sessions")
    create_topic(bootstrap, topic, GROUP_PARTITIONS)
    result = franz(bootstrap=bootstrap, scenario="group", topic=topic, group=unique_topic("g"),
                   partitions=GROUP_PARTITIONS, count=300, balancer="cooperative-sticky")
    delivery = result["delivery"]
    assert delivery["expected"] == delivery["received"], delivery
    for problem in ("missing", "duplicates", "unexpected", "wrong", "out_of_order"):
        assert delivery[problem] == 0, f"{problem}: {delivery['problems']}"
    assert incremental_fetches(http_port) > 0, "franz-go fetched without an incremental session"


def test_kafka_python_reads_waves_over_many_partitions_in_one_session(broker):
    """Each wave lands on a few partitions; the consumer's incremental fetches must bring
    exactly those records, in order, while the other partitions stay out of the answers."""
    bootstrap, http_port = broker_with_metrics(broker)
    topic = unique_topic("kp-sessions")
    create_topic(bootstrap, topic, WAVE_PARTITIONS)
    producer = new_producer(bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=100)
    expected = {p: [] for p in range(WAVE_PARTITIONS)}
    received = {p: [] for p in range(WAVE_PARTITIONS)}
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(WAVE_PARTITIONS)])
        consumer.seek_to_beginning()
        for wave in range(WAVES):
            for p in range(wave, WAVE_PARTITIONS, 7):
                values = [f"w{wave}-p{p}-{i}".encode() for i in range(RECORDS_PER_WAVE)]
                log = produce_all(producer, topic, [(None, v) for v in values], partition=p)
                assert not log.errors, log.errors
                expected[p] += values
            read_until(consumer, received, expected)
    finally:
        consumer.close()
    assert received == expected
    assert incremental_fetches(http_port) > 0, "kafka-python fetched without an incremental session"


def read_until(consumer, received, expected):
    deadline = time.monotonic() + CONSUME_DEADLINE_S
    while received != expected:
        assert time.monotonic() < deadline, f"missing records: { {p: len(expected[p]) - len(received[p]) for p in expected if received[p] != expected[p]} }"
        for tp, messages in consumer.poll(timeout_ms=500).items():
            received[tp.partition] += [m.value for m in messages]
