"""Fetch limits hold per request, not per shard (issue 10, item 7). On a two-shard broker, with
partitions on both shards in one Fetch: the record bytes of the answer never exceed the request's
max_bytes (except a first batch alone bigger than it, KIP-74): an external suite's librdkafka
client with fetch.max.bytes 1,000,000 got a 2,000,187-byte answer, refused it and timed out. And a
long poll answers as soon as the bytes of all shards together reach min_bytes, not when one shard
alone does."""

import time

import kafka_wire
from clients import assert_contiguous_from_zero, consume_all, create_topic, unique_topic

SHARDS = 2
PARTITIONS = 4  # consecutive partitions alternate between the two shards
VALUE_BYTES = 1000
RECORDS_PER_BATCH = 10
BATCHES_PER_PARTITION = 60  # ~600 KB per partition, ~2.4 MB in all
MAX_BYTES = 1_000_000  # the external suite's fetch.max.bytes
# librdkafka's smallest receive.message.max.bytes for that fetch.max.bytes (it wants 512 more):
# an answer above it is refused as an invalid response size, as the external suite saw.
RECEIVE_MAX_BYTES = MAX_BYTES + 512
PARTITION_MAX_BYTES = 1 << 20
LONG_POLL_MS = 25_000
T0_MS = 1_700_000_000_000


def batch(records=RECORDS_PER_BATCH):
    return kafka_wire.encode_record_batch([(None, b"v" * VALUE_BYTES)] * records, T0_MS)


def fill(bootstrap, topic):
    with kafka_wire.connect(bootstrap) as sock:
        for i in range(BATCHES_PER_PARTITION):
            answers = kafka_wire.produce_v3(sock, i, topic, {p: batch() for p in range(PARTITIONS)})
            assert all(error == 0 for error, _ in answers.values()), answers


def fetch_all_partitions(bootstrap, topic, max_bytes):
    with kafka_wire.connect(bootstrap) as sock:
        offsets = {p: 0 for p in range(PARTITIONS)}
        return kafka_wire.fetch_v4(sock, 1, topic, offsets, max_bytes, PARTITION_MAX_BYTES, max_wait_ms=0)


def test_answer_never_exceeds_max_bytes_across_shards(broker):
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("fetch-max")
    create_topic(b.bootstrap, topic, PARTITIONS)
    fill(b.bootstrap, topic)
    batch_bytes = len(batch())

    answer = fetch_all_partitions(b.bootstrap, topic, MAX_BYTES)
    sizes = {p: len(records) for p, (_, _, records) in answer.items()}
    assert all(error == 0 for error, _, _ in answer.values())
    assert sum(sizes.values()) <= MAX_BYTES, f"record bytes per partition {sizes}: over max_bytes {MAX_BYTES}"
    # As Kafka does: partitions are read in order until the budget is spent.
    assert sizes[0] == BATCHES_PER_PARTITION * batch_bytes, sizes
    assert sum(sizes.values()) > MAX_BYTES - batch_bytes, f"budget not used: {sizes}"

    # KIP-74: a max_bytes smaller than one batch still returns the first partition's first batch
    # whole, and nothing else.
    answer = fetch_all_partitions(b.bootstrap, topic, 100)
    sizes = {p: len(records) for p, (_, _, records) in answer.items()}
    assert sizes == {0: batch_bytes, 1: 0, 2: 0, 3: 0}, sizes
    assert [offset for offset, _, _ in kafka_wire.decode_record_batches(answer[0][2])] == list(
        range(RECORDS_PER_BATCH)
    )



def test_librdkafka_consumer_with_a_1mb_fetch_limit_reads_a_backlog_on_both_shards(broker):
    """The external suite's symptom, seen from the client: a librdkafka consumer that accepts
    answers of at most fetch.max.bytes + 512 reads a 2.4 MB backlog spread over both shards."""
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("fetch-max-client")
    create_topic(b.bootstrap, topic, PARTITIONS)
    fill(b.bootstrap, topic)

    received = consume_all(
        b.bootstrap,
        topic,
        PARTITIONS,
        timeout_s=60,
        **{"fetch.max.bytes": MAX_BYTES, "receive.message.max.bytes": RECEIVE_MAX_BYTES},
    )
    counts = {p: len(records) for p, records in received.items()}
    assert counts == {p: BATCHES_PER_PARTITION * RECORDS_PER_BATCH for p in range(PARTITIONS)}, counts
    assert_contiguous_from_zero(received)
    assert all(value == b"v" * VALUE_BYTES for records in received.values() for _, _, value in records)


def start_long_poll(bootstrap, topic, min_bytes, max_wait_ms):
    sock = kafka_wire.connect(bootstrap, timeout_s=max_wait_ms / 1000 + 30)
    body = kafka_wire.fetch_v4_body(topic, {0: 0, 1: 0}, 1 << 20, PARTITION_MAX_BYTES, max_wait_ms, min_bytes)
    sock.sendall(kafka_wire.frame(kafka_wire.request_header(kafka_wire.API_FETCH, 4, 9) + body))
    return sock


def finish_long_poll(sock):
    response = kafka_wire.read_frame(sock)
    sock.close()
    reader = kafka_wire.Reader(response)
    assert reader.int32() == 9
    return {p: len(records) for p, (_, _, records) in kafka_wire.parse_fetch_v4(reader).items()}


def test_long_poll_answers_once_the_total_over_shards_meets_min_bytes(broker):
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("fetch-min")
    create_topic(b.bootstrap, topic, 2)
    one_record = batch(records=1)
    min_bytes = len(one_record) * 3 // 2  # more than one partition has, less than both

    poll = start_long_poll(b.bootstrap, topic, min_bytes, LONG_POLL_MS)
    started = time.monotonic()
    with kafka_wire.connect(b.bootstrap) as sock:
        assert kafka_wire.produce_v3(sock, 1, topic, {0: one_record})[0][0] == 0
        assert kafka_wire.produce_v3(sock, 2, topic, {1: one_record})[1][0] == 0
    sizes = finish_long_poll(poll)
    waited_s = time.monotonic() - started
    assert sizes == {0: len(one_record), 1: len(one_record)}, sizes
    assert waited_s < LONG_POLL_MS / 1000 - 10, f"answered after {waited_s:.1f}s: min_bytes counted per shard"


def test_long_poll_below_min_bytes_waits_for_its_deadline(broker):
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("fetch-min-wait")
    create_topic(b.bootstrap, topic, 2)
    one_record = batch(records=1)
    max_wait_ms = 3000

    poll = start_long_poll(b.bootstrap, topic, len(one_record) * 3 // 2, max_wait_ms)
    started = time.monotonic()
    with kafka_wire.connect(b.bootstrap) as sock:
        assert kafka_wire.produce_v3(sock, 1, topic, {0: one_record})[0][0] == 0
    sizes = finish_long_poll(poll)
    assert sizes == {0: len(one_record), 1: 0}, sizes
    assert time.monotonic() - started >= max_wait_ms / 1000 - 0.5, "answered before min_bytes or the deadline"
