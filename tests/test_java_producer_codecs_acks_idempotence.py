"""kafka-clients 4.4.0 producers (Java): every codec (none, gzip, snappy, lz4, zstd), each with
an idempotent producer (acks=all) and non-idempotent ones with acks=0, 1 and all.

Every record is checked twice: the offset, partition and timestamp the producer was told
(acks 1/all; acks=0 learns no offset), and the record as a Java consumer reads it back (key,
value, header, CreateTime timestamp, offset). The stored batches are read raw: each carries
the codec the producer asked for, the idempotent producer's batches carry its producer id and
gapless sequence numbers per partition, the others none."""

import time

import pytest

from clients import unique_topic
from java_clients import driver
from kafkajs_node import batch_headers

pytestmark = pytest.mark.timeout(180)
PARTITIONS = 3
COUNT = 600
PAYLOAD = "payload" * 12
NULL_KEY_EVERY = 10
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
NO_PRODUCER_ID = -1
NO_SEQUENCE = -1


def expected_record(case, index, timestamp_base):
    key = None if index % NULL_KEY_EVERY == 0 else f"k-{index}"
    offset = index // PARTITIONS
    return [index % PARTITIONS, offset, key, f"{case}-{index}-{PAYLOAD}", timestamp_base + index, "CreateTime", {"index": str(index)}]


def check_acknowledgements(case, sent, timestamp_base):
    assert len(sent) == COUNT, f"{case}: {len(sent)} acknowledgements"
    for index, (partition, offset, timestamp) in enumerate(sent):
        expected_offset = -1 if case == "acks0" else index // PARTITIONS
        assert (partition, offset, timestamp) == (index % PARTITIONS, expected_offset, timestamp_base + index), (
            f"{case}: record {index} acknowledged as {partition}@{offset} ts {timestamp}"
        )


def check_batches(case, topic, bootstrap, codec):
    headers = batch_headers(bootstrap, topic, PARTITIONS)
    producer_ids = set()
    for partition, batches in headers.items():
        assert sum(b.record_count for b in batches) == COUNT // PARTITIONS, f"{case} {topic}[{partition}]"
        # Batching happened: several batches, some with several records.
        assert len(batches) > 1 and max(b.record_count for b in batches) > 1, f"{case}[{partition}]: {batches}"
        sequence = 0
        for batch in batches:
            assert batch.compression == CODEC_IDS[codec], f"{case}[{partition}]: batch {batch} is not {codec}"
            producer_ids.add(batch.producer_id)
            if case == "idempotent":
                assert (batch.producer_epoch, batch.base_sequence) == (0, sequence), f"{case}[{partition}]: {batch}"
                sequence += batch.record_count
            else:
                assert (batch.producer_id, batch.base_sequence) == (NO_PRODUCER_ID, NO_SEQUENCE), f"{case}: {batch}"
    if case == "idempotent":
        (producer_id,) = producer_ids
        assert producer_id >= 0, producer_ids


@pytest.mark.parametrize("codec", list(CODEC_IDS))
def test_java_producers_every_acks_and_idempotence_with_codec(broker, codec):
    bootstrap, _, _ = broker()
    # A minute in the past: within any timestamp bound, and distinct from the broker's clock.
    timestamp_base = int(time.time() * 1000) - 60_000
    result = driver(
        "produce-matrix",
        bootstrap=bootstrap,
        codec=codec,
        topic_prefix=unique_topic(f"java-{codec}"),
        count=COUNT,
        partitions=PARTITIONS,
        timestamp_base=timestamp_base,
    )
    assert sorted(result) == sorted(["idempotent", "acks0", "acks1", "acksall"])
    for case, outcome in result.items():
        check_acknowledgements(case, outcome["sent"], timestamp_base)
        expected = sorted(
            (expected_record(case, i, timestamp_base) for i in range(COUNT)), key=lambda r: (r[0], r[1])
        )
        read = outcome["read"]
        assert len(read) == COUNT, f"{case}: read {len(read)} records, wrote {COUNT}"
        for got, want in zip(read, expected):
            assert got == want, f"{case}: read {got}, expected {want}"
        check_batches(case, outcome["topic"], bootstrap, codec)
