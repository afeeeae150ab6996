"""kafkajs 2.2.4 producers (its own Produce v7 encoder, not librdkafka) with acks -1 and 1, its
built-in gzip, `idempotent: true` (InitProducerId plus per-partition sequences) and keyed
messages. Every message is read back with a kafkajs consumer and with librdkafka, and checked by
content, per-partition order and the acknowledged base offsets; the stored batch headers show
the compression and the producer id and sequences the broker accepted."""

import pytest

from clients import consume_all, create_topic, unique_topic
from kafkajs_node import COMPRESSION_GZIP, batch_headers, run_script

# Each kafkajs script has its own 20 s deadline; this bounds the whole test.
pytestmark = pytest.mark.timeout(90)

PARTITIONS = 3
MESSAGES = 1200
SEND_SIZE = 100
KEYS = 10
COMPRESSION_NONE = 0

MODES = {
    "acks_all_keyed": {"acks": -1, "keys": KEYS},
    "acks_leader": {"acks": 1},
    "gzip": {"acks": -1, "compression": "gzip"},
    "idempotent_keyed_gzip": {"idempotent": True, "keys": KEYS, "compression": "gzip"},
}


def message_index(value, prefix):
    assert value.startswith(prefix + "-"), value
    return int(value[len(prefix) + 1 :])


def by_partition(records):
    out = {p: [] for p in range(PARTITIONS)}
    for record in records:
        out[record["partition"]].append(record)
    return out


def check_content_and_order(records, prefix, keyed):
    """Every message once; per partition offsets 0, 1, ... and send order; a key on one partition."""
    indexes = sorted(message_index(r["value"], prefix) for r in records)
    assert indexes == list(range(MESSAGES)), f"{len(indexes)} records, expected each of 0..{MESSAGES - 1} once"
    partition_of_key = {}
    for partition, recs in by_partition(records).items():
        offsets = [r["offset"] for r in recs]
        assert offsets == list(range(len(recs))), f"partition {partition}: offsets not 0..{len(recs) - 1}"
        order = [message_index(r["value"], prefix) for r in recs]
        assert order == sorted(order), f"partition {partition}: values out of send order"
        for record in recs:
            expected_key = f"key-{message_index(record['value'], prefix) % KEYS}" if keyed else None
            assert record["key"] == expected_key, record
            if keyed:
                assert partition_of_key.setdefault(record["key"], partition) == partition, record


def check_acks_match_records(sends, records, prefix):
    """Each acknowledged (partition, base offset) holds the first message of that send there."""
    at = {(r["partition"], r["offset"]): message_index(r["value"], prefix) for r in records}
    first_of_send = {}
    for r in records:
        index = message_index(r["value"], prefix)
        key = (index // SEND_SIZE, r["partition"])
        first_of_send[key] = min(first_of_send.get(key, index), index)
    for number, send in enumerate(sends):
        assert send["first"] == number * SEND_SIZE
        for ack in send["acks"]:
            assert ack["errorCode"] == 0, ack
            position = (ack["partition"], ack["baseOffset"])
            assert at.get(position) == first_of_send[(number, ack["partition"])], (number, ack)


def check_batch_headers(headers, mode):
    compression = COMPRESSION_GZIP if mode.get("compression") == "gzip" else COMPRESSION_NONE
    producer_ids = set()
    for partition, batches in headers.items():
        assert batches, f"partition {partition} has no batch"
        next_sequence = 0
        for batch in batches:
            assert batch.compression == compression, (partition, batch)
            producer_ids.add(batch.producer_id)
            if mode.get("idempotent"):
                assert batch.base_sequence == next_sequence, (partition, batch)
                assert batch.producer_epoch >= 0, (partition, batch)
                next_sequence += batch.record_count
    if mode.get("idempotent"):
        (producer_id,) = producer_ids
        assert producer_id >= 0, "InitProducerId gave no producer id"
    else:
        # kafkajs writes producer id -1 but epoch 0 and sequence 0 (Java writes -1 for all
        # three); the broker stores the header as sent, so only the id says "not idempotent".
        assert producer_ids == {-1}


@pytest.mark.parametrize("name", sorted(MODES))
def test_kafkajs_producer_messages_read_back_in_order(broker, name):
    mode = MODES[name]
    bootstrap, _, _ = broker()
    topic = unique_topic(f"kjs-{name.replace('_', '-')}")
    prefix = f"{name}-value"
    create_topic(bootstrap, topic, PARTITIONS)

    produced = run_script(
        "produce.js", bootstrap, topic, options={"count": MESSAGES, "sendSize": SEND_SIZE, "prefix": prefix, **mode}
    )
    consumed = run_script(
        "consume.js", bootstrap, topic, options={"groupId": unique_topic("kjs-reader"), "expected": MESSAGES}
    )["records"]

    keyed = "keys" in mode
    check_content_and_order(consumed, prefix, keyed)
    check_acks_match_records(produced["sends"], consumed, prefix)
    check_batch_headers(batch_headers(bootstrap, topic, PARTITIONS), mode)
    # librdkafka decodes the same batches to the same records.
    by_librdkafka = consume_all(bootstrap, topic, PARTITIONS)
    for partition, recs in by_partition(consumed).items():
        expected = [(r["offset"], r["key"], r["value"]) for r in recs]
        got = [(o, k and k.decode(), v.decode()) for o, k, v in by_librdkafka[partition]]
        assert got == expected, f"partition {partition}: librdkafka reads other records than kafkajs"
