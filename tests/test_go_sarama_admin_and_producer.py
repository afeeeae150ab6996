"""Sarama against the broker, each test with both builds of the same program: Debian's 1.22
(golang-github-shopify-sarama-dev) and the newest IBM/sarama (1.61, module proxy):
ClusterAdmin topic lifecycle (create, list, describe, add partitions, describe configs,
delete), and SyncProducer (acks=all, every codec, idempotent) with every message read back by
partition consumers. config.Version is that Sarama's newest (2.2.0 / 4.3.1) unless a test says
otherwise; 0.11.0.0 is the oldest Version that speaks record batch v2, older ones (Debian's
default, 0.8.2) use message sets of magic 0/1."""

import struct

import pytest

import kafka_wire
from clients import create_topic, unique_topic
from goclients.harness import BUILDS, SARAMA_NEWEST_VERSION, sarama

PARTITIONS = 4
MESSAGES = 400
NEWEST = "newest"
OLDEST_WITH_RECORD_BATCHES = "0.11.0.0"
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
# Record batch v2 header: attributes at 21, recordsCount at 57, producerId at 43,
# baseSequence at 53 (bytes from the batch start).
ATTRIBUTES_AT, PRODUCER_ID_AT, BASE_SEQUENCE_AT, RECORDS_COUNT_AT = 21, 43, 53, 57
CODEC_MASK = 0x07


def stored_batch_headers(bootstrap, topic):
    """{partition: [(codec, producer_id, base_sequence, records_count)]} of every stored batch,
    read with a raw Fetch v4 (the broker returns batches as the producer sent them)."""
    headers = {}
    with kafka_wire.connect(bootstrap) as sock:
        fetched = kafka_wire.fetch_v4(sock, 1, topic, {p: 0 for p in range(PARTITIONS)})
    for partition, (error_code, _, records) in fetched.items():
        assert error_code == 0, f"fetch of partition {partition}: error {error_code}"
        position, batches = 0, []
        while position + kafka_wire.LOG_OVERHEAD_BYTES <= len(records):
            (batch_length,) = struct.unpack_from(">i", records, position + 8)
            (attributes,) = struct.unpack_from(">h", records, position + ATTRIBUTES_AT)
            (producer_id,) = struct.unpack_from(">q", records, position + PRODUCER_ID_AT)
            base_sequence, count = struct.unpack_from(">ii", records, position + BASE_SEQUENCE_AT)
            batches.append((attributes & CODEC_MASK, producer_id, base_sequence, count))
            position += kafka_wire.LOG_OVERHEAD_BYTES + batch_length
        headers[partition] = batches
    return headers


@pytest.fixture(params=BUILDS)
def kind(request):
    return request.param


def test_cluster_admin_creates_lists_describes_and_deletes_a_topic(broker, kind):
    b = broker()
    topic = unique_topic("sarama-admin")
    result = sarama(kind, bootstrap=b.bootstrap, scenario="admin", topic=topic, partitions=3)
    assert result["version"] == SARAMA_NEWEST_VERSION[kind]
    assert "already exists" in result["create_again_error"]
    # ListTopics is Metadata v0 with an empty topic list plus DescribeConfigs v0.
    assert result["listed"] is True
    assert result["listed_partitions"] == 3
    assert result["listed_replication_factor"] == 1
    assert result["listed_configs"] == {"retention.ms": "3600000"}, "only the non-default override"
    assert result["described_partitions"] == [0, 1, 2]
    assert result["partitions_after_create_partitions"] == 5
    # DescribeConfig is DescribeConfigs v0: is_default instead of a config source.
    assert result["config_values"]["retention.ms"] == "3600000"
    assert result["config_is_default"]["retention.ms"] is False
    assert result["config_values"]["cleanup.policy"] == "delete"
    assert result["config_is_default"]["cleanup.policy"] is True
    assert result["brokers"] == 1
    assert result["listed_after_delete"] is False


def produce_and_read_back(kind, bootstrap, topic, **flags):
    create_topic(bootstrap, topic, PARTITIONS)
    result = sarama(kind, bootstrap=bootstrap, scenario="produce", topic=topic, count=MESSAGES, **flags)
    assert result["produced"] == MESSAGES
    assert sorted(result["produced_per_partition"]) == [str(p) for p in range(PARTITIONS)]
    assert result["consumed"] == MESSAGES
    assert result["problems"] is None, result["problems"][:10]
    return result


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_sync_producer_acks_all_every_codec_reads_back_in_order(broker, kind, compression):
    b = broker()
    topic = unique_topic("sarama-produce")
    produce_and_read_back(kind, b.bootstrap, topic, compression=compression, version=NEWEST)
    headers = stored_batch_headers(b.bootstrap, topic)
    codecs = {codec for batches in headers.values() for codec, _, _, _ in batches}
    assert codecs == {CODEC_IDS[compression]}, f"stored batches carry the producer's codec: {codecs}"
    assert max(count for batches in headers.values() for _, _, _, count in batches) > 1, "multi-record batches"


# Sarama allows zstd only from Version 2.1.0.
@pytest.mark.parametrize(
    "version, compression",
    [(NEWEST, "none"), (NEWEST, "zstd"), (OLDEST_WITH_RECORD_BATCHES, "none"), (OLDEST_WITH_RECORD_BATCHES, "lz4")],
)
def test_idempotent_producer_reads_back_in_order(broker, kind, version, compression):
    b = broker()
    topic = unique_topic("sarama-idempotent")
    result = produce_and_read_back(kind, b.bootstrap, topic, compression=compression, version=version, idempotent="true")
    assert result["version"] == (SARAMA_NEWEST_VERSION[kind] if version == NEWEST else version)
    # InitProducerId gave one producer id; each partition's sequences run on without gaps.
    headers = stored_batch_headers(b.bootstrap, topic)
    producer_ids = {pid for batches in headers.values() for _, pid, _, _ in batches}
    assert len(producer_ids) == 1 and min(producer_ids) >= 0, producer_ids
    for partition, batches in headers.items():
        expected_sequence = 0
        for _, _, base_sequence, count in batches:
            assert base_sequence == expected_sequence, f"partition {partition}: {batches}"
            expected_sequence += count


# Version 0.8.2 (Debian Sarama's default): Produce v0 with magic 0 messages, Fetch v0 and
# ListOffsets v0; 0.10.0 produces magic 1 (Produce/Fetch v2). The broker converts them to and
# from its v2 batches. Sarama refuses lz4 before 0.10 and zstd before 2.1.
@pytest.mark.parametrize(
    "version, compression",
    [("0.8.2.0", "none"), ("0.8.2.0", "gzip"), ("0.8.2.0", "snappy"), ("0.10.0.0", "none"), ("0.10.0.0", "lz4")],
)
def test_old_message_formats_are_converted_both_ways(broker, kind, version, compression):
    b = broker()
    topic = unique_topic("sarama-old-format")
    # Debian's default Version is 0.8.2; the newest Sarama's is 2.1.0, so it is asked explicitly.
    asked = "default" if (kind, version) == ("debian", "0.8.2.0") else version
    result = produce_and_read_back(kind, b.bootstrap, topic, compression=compression, version=asked)
    assert result["version"] == version
    headers = stored_batch_headers(b.bootstrap, topic)
    codecs = {codec for batches in headers.values() for codec, _, _, _ in batches}
    assert codecs == {CODEC_IDS["none"]}, "old message sets are stored as uncompressed v2 batches"
