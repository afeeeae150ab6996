"""Consumers read only what is durable (issue 10, item 2). A broker whose segment fdatasyncs are
slowed down by the test-only fault plan acknowledges an acks=1 record once it is written; until
the fdatasync completes, Fetch must not hand the record out (its high watermark, last stable
offset and ListOffsets latest stay below it), and a long poll parked meanwhile must wake when
the fdatasync moves the bound, well before its own deadline. With `log.unflushed.read.enable`
(broker) or `unflushed.read.enable` (topic) the record is readable at once, as in Kafka."""

import time

import kafka_wire
from clients import create_topic, latest_offset, new_producer, produce_all, unique_topic

ALLOW_ENV = "MILLRACE_ALLOW_FAULT_INJECTION"
# Long enough that the reads right after the acknowledgement surely happen before it ends.
SYNC_DELAY_MS = 10_000
LONG_POLL_MS = 28_000


def slow_sync_plan(*topics):
    """Every fdatasync of each topic's first segment file waits SYNC_DELAY_MS."""
    return ";".join(f"slow-sync:ms={SYNC_DELAY_MS}:file={topic}-0/00000000000000000000.log" for topic in topics)


def produce_one_acks1(bootstrap, topic):
    producer = new_producer(bootstrap, acks="1", **{"enable.idempotence": False, "linger.ms": 0})
    log = produce_all(producer, topic, [(b"k", b"not-yet-durable")], partition=0)
    assert not log.errors and [offset for _, offset, _, _ in log.delivered] == [0], log.errors
    return time.monotonic()


def fetch_now(bootstrap, topic, max_wait_ms=0):
    with kafka_wire.connect(bootstrap, timeout_s=LONG_POLL_MS / 1000 + 10) as sock:
        results = kafka_wire.fetch_v4(sock, 7, topic, {0: 0}, max_wait_ms=max_wait_ms, min_bytes=1)
    error_code, high_watermark, records = results[0]
    assert error_code == 0
    return high_watermark, kafka_wire.decode_record_batches(records)


def test_acks1_record_is_not_readable_until_fsynced_and_long_poll_wakes_on_fsync(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    topic = unique_topic("durable-read")
    b = broker(**{"storage.fault.plan": slow_sync_plan(topic)})
    create_topic(b.bootstrap, topic, 1)

    acked_at = produce_one_acks1(b.bootstrap, topic)
    high_watermark, records = fetch_now(b.bootstrap, topic)
    latest = latest_offset(b.bootstrap, topic)
    checked_within_s = time.monotonic() - acked_at
    assert checked_within_s < SYNC_DELAY_MS / 1000 / 2, f"reads came {checked_within_s:.1f}s late; inconclusive"
    assert records == [], "a consumer read a record that is not fsynced yet"
    assert high_watermark == 0, f"high watermark {high_watermark} counts a record that is not fsynced"
    assert latest == 0, f"ListOffsets latest {latest} counts a record that is not fsynced"

    # A long poll parked now answers when the fdatasync completes, not at its deadline.
    poll_started = time.monotonic()
    high_watermark, records = fetch_now(b.bootstrap, topic, max_wait_ms=LONG_POLL_MS)
    waited_s = time.monotonic() - poll_started
    assert [(offset, value) for offset, _, value in records] == [(0, b"not-yet-durable")]
    assert high_watermark == 1
    assert waited_s < LONG_POLL_MS / 1000 - 5, f"the long poll waited {waited_s:.1f}s: not woken by the fsync"
    assert latest_offset(b.bootstrap, topic) == 1


def test_unflushed_read_opt_out_by_broker_key(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    topic = unique_topic("unflushed-broker")
    b = broker(**{"storage.fault.plan": slow_sync_plan(topic), "log.unflushed.read.enable": "true"})
    create_topic(b.bootstrap, topic, 1)
    acked_at = produce_one_acks1(b.bootstrap, topic)
    high_watermark, records = fetch_now(b.bootstrap, topic)
    assert time.monotonic() - acked_at < SYNC_DELAY_MS / 1000 / 2, "inconclusive: read too late"
    assert [value for _, _, value in records] == [b"not-yet-durable"]
    assert high_watermark == 1
    assert latest_offset(b.bootstrap, topic) == 1


def test_unflushed_read_opt_out_by_topic_key(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    opted_out = unique_topic("unflushed-topic")
    durable = unique_topic("durable-topic")
    b = broker(**{"storage.fault.plan": slow_sync_plan(opted_out, durable)})
    create_topic(b.bootstrap, opted_out, 1, config={"unflushed.read.enable": "true"})
    create_topic(b.bootstrap, durable, 1)
    acked_at = produce_one_acks1(b.bootstrap, opted_out)
    produce_one_acks1(b.bootstrap, durable)
    opted_out_read = fetch_now(b.bootstrap, opted_out)
    durable_read = fetch_now(b.bootstrap, durable)
    assert time.monotonic() - acked_at < SYNC_DELAY_MS / 1000 / 2, "inconclusive: read too late"
    assert opted_out_read[0] == 1 and len(opted_out_read[1]) == 1, opted_out_read
    assert durable_read == (0, []), durable_read
