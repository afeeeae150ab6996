"""Protocol edges: ListOffsets (earliest, latest, by timestamp) through librdkafka, the
advertised API version table, and requests with versions the broker does not support."""

import pytest
from confluent_kafka import TopicPartition

import kafka_wire
from clients import DeliveryLog, create_topic, new_consumer, new_producer, unique_topic

T0_MS = 1_700_000_000_000
STEP_MS = 1000
RECORDS = 10
LIST_OFFSETS_TIMEOUT_S = 10.0
OFFSET_END = -1
CLOSE_TIMEOUT_S = 5.0

# Every API the broker implements, and the newest version librdkafka 2.15+ asks for: the
# advertised range must reach it (KAFKA-COMPAT.md), and Produce must be advertised from v0.
REQUIRED_MAX_VERSIONS = {
    kafka_wire.API_PRODUCE: 10,
    kafka_wire.API_FETCH: 16,
    kafka_wire.API_LIST_OFFSETS: 7,
    kafka_wire.API_METADATA: 13,
    kafka_wire.API_API_VERSIONS: 3,
    kafka_wire.API_CREATE_TOPICS: 4,
    kafka_wire.API_DELETE_TOPICS: 4,
    kafka_wire.API_INIT_PRODUCER_ID: 4,
    kafka_wire.API_DESCRIBE_CONFIGS: 1,
    kafka_wire.API_CREATE_PARTITIONS: 2,
}


def produce_timestamped(bootstrap, topic, one_batch_each):
    """RECORDS records with timestamps T0, T0+1s, ...: flushed one by one (one batch each), or
    all together (one batch holding every record)."""
    producer = new_producer(bootstrap, acks="all", **{"linger.ms": 100})
    log = DeliveryLog()
    for i in range(RECORDS):
        producer.produce(
            topic, key=b"k", value=f"v{i}".encode(), partition=0, timestamp=T0_MS + i * STEP_MS, on_delivery=log
        )
        if one_batch_each:
            assert producer.flush(30) == 0
    assert producer.flush(30) == 0
    assert not log.errors and sorted(o for _, o, _, _ in log.delivered) == list(range(RECORDS))


def offset_for_time(consumer, topic, timestamp_ms):
    [result] = consumer.offsets_for_times([TopicPartition(topic, 0, timestamp_ms)], timeout=LIST_OFFSETS_TIMEOUT_S)
    assert result.error is None, f"ListOffsets for {timestamp_ms}: {result.error}"
    return result.offset


@pytest.mark.parametrize("layout", ["one-record-per-batch", "all-records-in-one-batch"])
def test_list_offsets_earliest_latest_and_by_timestamp(broker, layout):
    b = broker()
    topic = unique_topic("list-offsets")
    create_topic(b.bootstrap, topic, 1)
    produce_timestamped(b.bootstrap, topic, one_batch_each=layout == "one-record-per-batch")
    consumer = new_consumer(b.bootstrap)
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=LIST_OFFSETS_TIMEOUT_S)
        assert (low, high) == (0, RECORDS)

        assert offset_for_time(consumer, topic, -2) == 0, "timestamp -2 means earliest"
        assert offset_for_time(consumer, topic, -1) == RECORDS, "timestamp -1 means latest"
        for i in range(RECORDS):
            assert offset_for_time(consumer, topic, T0_MS + i * STEP_MS) == i, f"exact timestamp of record {i}"
            assert offset_for_time(consumer, topic, T0_MS + i * STEP_MS - STEP_MS // 2) == i, (
                f"a time just before record {i} finds record {i}"
            )
        assert offset_for_time(consumer, topic, T0_MS - 10 * STEP_MS) == 0
        assert offset_for_time(consumer, topic, T0_MS + RECORDS * STEP_MS) == OFFSET_END, (
            "a time after every record finds no offset"
        )
    finally:
        consumer.close()


def test_api_versions_v0_and_v3_advertise_the_supported_apis(broker):
    b = broker()
    with kafka_wire.connect(b.bootstrap) as sock:
        error_v0, versions_v0 = kafka_wire.api_versions_v0(sock, correlation_id=1)
        error_v3, versions_v3 = kafka_wire.api_versions_v3(sock, correlation_id=2)
    assert error_v0 == 0 and error_v3 == 0
    assert versions_v0 == versions_v3, "v0 and v3 answers list the same table"
    for api_key, needed_max in REQUIRED_MAX_VERSIONS.items():
        assert api_key in versions_v0, f"API {api_key} not advertised"
        low, high = versions_v0[api_key]
        assert low <= high and high >= needed_max, f"API {api_key} advertised {low}..{high}, need up to {needed_max}"
    assert versions_v0[kafka_wire.API_PRODUCE][0] == 0, "Produce must be advertised from v0 (librdkafka compression)"


def test_api_versions_with_unknown_version_answers_unsupported_version(broker):
    """KIP-511: a too-new ApiVersions is answered in v0 form with UNSUPPORTED_VERSION and the
    broker's table, and the connection stays usable. The request is sent as a newer client
    would: ApiVersions v3+ uses the flexible header (v2) and a flexible body."""
    b = broker()
    body = kafka_wire.compact_string("future-client") + kafka_wire.compact_string("9.9") + kafka_wire.uvarint(0)
    with kafka_wire.connect(b.bootstrap) as sock:
        reader = kafka_wire.call(sock, kafka_wire.API_API_VERSIONS, 99, 5, body, flexible=True)
        error_code, versions = kafka_wire.parse_api_versions_v0(reader)
        assert error_code == kafka_wire.ERROR_UNSUPPORTED_VERSION
        assert kafka_wire.API_API_VERSIONS in versions
        error_code, _ = kafka_wire.api_versions_v0(sock, correlation_id=6)
        assert error_code == 0


@pytest.mark.parametrize("api_key", [kafka_wire.API_METADATA, kafka_wire.API_FETCH, kafka_wire.API_PRODUCE])
def test_unsupported_version_of_other_api_does_not_hurt_the_broker(broker, api_key):
    """A version beyond the advertised range has no schema to answer in: the broker may answer
    with the request's correlation id or close the connection, but it keeps serving others."""
    b = broker()
    with kafka_wire.connect(b.bootstrap) as sock:
        header = kafka_wire.request_header(api_key, 99, 77, flexible=True)  # as a newer client would
        sock.sendall(kafka_wire.frame(header + b"\x00" * 32))
        sock.settimeout(CLOSE_TIMEOUT_S)
        response = kafka_wire.read_frame(sock)
        if response is not None:
            assert response[:4] == (77).to_bytes(4, "big"), "an answer must carry the request's correlation id"
    assert b.alive(), b.stderr_tail()
    with kafka_wire.connect(b.bootstrap) as sock:
        error_code, _ = kafka_wire.api_versions_v0(sock)
        assert error_code == 0
