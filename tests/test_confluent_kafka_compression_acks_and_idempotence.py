"""confluent-kafka 2.16 (librdkafka 2.16): every compression codec, acks 0/1/all and an
idempotent producer; everything consumed back with assign() from the earliest offset and
verified message by message (key, value, partition, offset)."""

from collections import Counter

import pytest

from clients import (
    assert_contiguous_from_zero,
    consume_all,
    create_topic,
    new_producer,
    produce_all,
    unique_topic,
)

PARTITIONS = 3
MESSAGE_COUNT = 20_000

PRODUCER_CASES = {
    "gzip-acks-all": {"compression.type": "gzip", "acks": "all"},
    "snappy-acks-all": {"compression.type": "snappy", "acks": "all"},
    "lz4-acks-all": {"compression.type": "lz4", "acks": "all"},
    "zstd-acks-all": {"compression.type": "zstd", "acks": "all"},
    "zstd-acks-1": {"compression.type": "zstd", "acks": "1"},
    "none-acks-0": {"compression.type": "none", "acks": "0"},
    "none-acks-1": {"compression.type": "none", "acks": "1"},
    "none-acks-all": {"compression.type": "none", "acks": "all"},
    "idempotent": {"enable.idempotence": True},
    "idempotent-lz4": {"enable.idempotence": True, "compression.type": "lz4"},
}


def messages(count, tag):
    """Keyed messages whose values are compressible but all distinct."""
    for i in range(count):
        yield f"{tag}-key-{i}".encode(), f"{tag}-value-{i}-{'abc' * (i % 40)}-{i * 7919 % 10007}".encode()


@pytest.mark.parametrize("case", list(PRODUCER_CASES))
def test_producer_case_round_trips_every_message(broker, case):
    b = broker()
    topic = unique_topic(f"ck-{case}")
    create_topic(b.bootstrap, topic, PARTITIONS)
    producer = new_producer(b.bootstrap, **PRODUCER_CASES[case], **{"linger.ms": 10})

    sent = list(messages(MESSAGE_COUNT, case))
    log = produce_all(producer, topic, sent)

    assert not log.errors, f"{len(log.errors)} delivery errors, first: {log.errors[0][0]}"
    assert len(log.delivered) == MESSAGE_COUNT
    received = consume_all(b.bootstrap, topic, PARTITIONS)

    assert_contiguous_from_zero(received)
    by_position = {(p, o): (k, v) for p, records in received.items() for o, k, v in records}
    assert Counter(by_position.values()) == Counter(sent), "consumed messages differ from produced ones"
    acks_zero = PRODUCER_CASES[case].get("acks") == "0"
    for partition, offset, key, value in log.delivered:
        if acks_zero:
            continue  # acks=0 gets no offsets back
        assert by_position.get((partition, offset)) == (key, value), f"{key!r} not at {partition}/{offset}"
    assert_per_partition_production_order(received, sent)


def assert_per_partition_production_order(received, sent):
    """One producer, one key per message: each partition holds its messages in send order."""
    rank = {key: i for i, (key, _) in enumerate(sent)}
    for partition, records in received.items():
        ranks = [rank[key] for _, key, _ in records]
        assert ranks == sorted(ranks), f"partition {partition} out of production order"
