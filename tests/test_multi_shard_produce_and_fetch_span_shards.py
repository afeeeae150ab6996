"""Two shards, six partitions (so both shards own some). One Produce request and one Fetch
request, each touching all six partitions, on one connection; repeated over many connections,
which SO_REUSEPORT spreads over both shards, so either shard may be the one answering."""

import time

import kafka_wire
from clients import (
    DeliveryLog,
    assert_contiguous_from_zero,
    consume_all,
    create_topic,
    new_producer,
    unique_topic,
)

SHARDS = 2
PARTITIONS = 6
CONNECTIONS = 12
RECORDS_PER_PARTITION = 5
FETCH_TIMEOUT_S = 15.0


def records_for(connection, partition):
    return [
        (f"c{connection}-p{partition}-k{i}".encode(), f"c{connection}-p{partition}-v{i}".encode())
        for i in range(RECORDS_PER_PARTITION)
    ]


def test_one_request_spanning_both_shards_on_every_connection(broker):
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("shards")
    create_topic(b.bootstrap, topic, PARTITIONS)
    expected = {p: [] for p in range(PARTITIONS)}

    for connection in range(CONNECTIONS):
        with kafka_wire.connect(b.bootstrap) as sock:
            batches = {
                p: kafka_wire.encode_record_batch(records_for(connection, p), int(time.time() * 1000))
                for p in range(PARTITIONS)
            }
            results = kafka_wire.produce_v3(sock, 100 + connection, topic, batches)
            assert sorted(results) == list(range(PARTITIONS)), f"produce answered partitions {sorted(results)}"
            for p, (error_code, base_offset) in results.items():
                assert error_code == 0, f"connection {connection} partition {p}: error {error_code}"
                assert base_offset == len(expected[p]), f"partition {p}: base offset {base_offset}, expected {len(expected[p])}"
                expected[p] += [(base_offset + i, k, v) for i, (k, v) in enumerate(records_for(connection, p))]

            fetched = fetch_everything(sock, topic, expected)
            for p in range(PARTITIONS):
                assert fetched[p] == expected[p], f"connection {connection}: partition {p} content differs"


def fetch_everything(sock, topic, expected):
    """Fetch all partitions from offset 0 on one connection, repeating (one Fetch request per
    round, all partitions in it) until every partition's expected records are in."""
    got = {p: [] for p in range(PARTITIONS)}
    deadline = time.monotonic() + FETCH_TIMEOUT_S
    correlation_id = 1000
    while any(len(got[p]) < len(expected[p]) for p in range(PARTITIONS)):
        assert time.monotonic() < deadline, f"fetch incomplete: { {p: len(v) for p, v in got.items()} }"
        correlation_id += 1
        offsets = {p: len(got[p]) for p in range(PARTITIONS)}
        results = kafka_wire.fetch_v4(sock, correlation_id, topic, offsets)
        assert sorted(results) == list(range(PARTITIONS)), f"fetch answered partitions {sorted(results)}"
        for p, (error_code, high_watermark, records) in results.items():
            assert error_code == 0, f"fetch partition {p}: error {error_code}"
            assert high_watermark == len(expected[p]), f"partition {p}: high watermark {high_watermark}"
            got[p] += [r for r in kafka_wire.decode_record_batches(records) if r[0] >= offsets[p]]
    return got


def test_librdkafka_clients_across_both_shards(broker):
    """The same through confluent-kafka: each round a new producer (its requests batch several
    partitions) and a new consumer (one Fetch for all partitions)."""
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("shards-ck")
    create_topic(b.bootstrap, topic, PARTITIONS)
    expected = {}
    for round_number in range(6):
        producer = new_producer(b.bootstrap, acks="all", **{"linger.ms": 20})
        log = DeliveryLog()
        for p in range(PARTITIONS):
            for key, value in records_for(round_number, p):
                producer.produce(topic, key=key, value=value, partition=p, on_delivery=log)
        assert producer.flush(30) == 0
        assert not log.errors and len(log.delivered) == PARTITIONS * RECORDS_PER_PARTITION
        expected.update({(part, o): (k, v) for part, o, k, v in log.delivered})
        received = consume_all(b.bootstrap, topic, PARTITIONS)
        assert_contiguous_from_zero(received)
        assert {(p, o): (k, v) for p, rs in received.items() for o, k, v in rs} == expected
