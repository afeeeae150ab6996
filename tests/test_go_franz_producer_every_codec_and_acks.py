"""franz-go (kgo, the newest from the Go module proxy) producing and consuming directly: the
idempotent producer (kgo's default, acks=all) and the plain one at acks all/leader/none,
every codec, many partitions over two shards; every record is read back with its exact
partition, offset, key, value, header and timestamp (record i goes to partition i % P, so at
offset i // P). franz-go validates versions, tagged fields and error codes strictly, and the
program fails on any warning it logs."""

import pytest

from clients import create_topic, unique_topic
from goclients.harness import franz

PARTITIONS = 4
RECORDS = 400
MANY_PARTITIONS = 24
MANY_RECORDS = 2400
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def produce_and_read_back(bootstrap, partitions, count, **flags):
    topic = unique_topic("franz-produce")
    create_topic(bootstrap, topic, partitions)
    result = franz(bootstrap=bootstrap, scenario="produce", topic=topic, partitions=partitions, count=count, **flags)
    delivery = result["delivery"]
    assert (delivery["expected"], delivery["received"]) == (count, count), delivery
    for problem in ("missing", "duplicates", "unexpected", "wrong", "out_of_order"):
        assert delivery[problem] == 0, f"{problem}: {delivery['problems']}"
    assert result["high_watermarks"] == {str(p): count // partitions for p in range(partitions)}
    return result


@pytest.mark.parametrize("idempotent", ["true", "false"])
@pytest.mark.parametrize("codec", CODECS)
def test_producer_every_codec_with_and_without_idempotence(broker, codec, idempotent):
    b = broker()
    result = produce_and_read_back(b.bootstrap, PARTITIONS, RECORDS, compression=codec, idempotent=idempotent)
    # The stored batches come back with the producer's codec, several records each. franz-go
    # sends a batch uncompressed when the codec does not make it smaller (kgo's sink.go,
    # appendTo), as with a one-record batch cut by linger: in CI 4 of 8 lz4 batches were such.
    fetched = result["fetched_batches"]
    codecs = set(fetched["codecs"])
    assert codec in codecs and codecs <= {codec, "none"}, fetched
    assert fetched["max_records"] > 1, fetched


@pytest.mark.parametrize("acks", ["leader", "none"])
def test_plain_producer_acks_leader_and_none(broker, acks):
    b = broker()
    produce_and_read_back(b.bootstrap, PARTITIONS, RECORDS, idempotent="false", acks=acks, compression="lz4")


@pytest.mark.parametrize("consume", ["partitions", "topics"])
def test_many_partitions_over_two_shards(broker, consume):
    """24 partitions owned by two shards: one produce request and one fetch span both
    (ConsumePartitions and the direct ConsumeTopics consumer)."""
    b = broker(**{"num.shards": 2})
    produce_and_read_back(b.bootstrap, MANY_PARTITIONS, MANY_RECORDS, compression="zstd", consume=consume)
