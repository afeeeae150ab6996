"""A Produce whose partition cannot become durable within the request's `timeout_ms` (a hung
device, simulated by the test-only fault layer: every fdatasync of one partition takes a minute)
is answered REQUEST_TIMED_OUT for that partition after about `timeout_ms`, as Kafka does, while
the other partition of the same request is answered normally. Before, the answer waited for the
device, so the client's request timed out with no answer at all."""

import time

import kafka_wire
from clients import create_topic, unique_topic

ALLOW_ENV = "MILLRACE_ALLOW_FAULT_INJECTION"
HUNG_SYNC_MS = 60_000
REQUEST_TIMEOUT_MS = 1_000
# Far below the hung fdatasync, far above the request timeout even on a loaded machine.
ANSWER_WITHIN_S = 30.0
REQUEST_TIMED_OUT = 7


def test_a_hung_fdatasync_is_answered_request_timed_out_per_partition(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    topic = unique_topic("hungsync")
    b = broker(**{"storage.fault.plan": f"slow-sync:ms={HUNG_SYNC_MS}:file={topic}-0/"})
    create_topic(b.bootstrap, topic, 2)
    batch = kafka_wire.encode_record_batch([(b"k", b"v" * 100)], int(time.time() * 1000))

    with kafka_wire.connect(b.bootstrap, timeout_s=ANSWER_WITHIN_S) as sock:
        started = time.monotonic()
        results = kafka_wire.produce_v3(
            sock, 1, topic, {0: batch, 1: batch}, acks=-1, timeout_ms=REQUEST_TIMEOUT_MS
        )
        elapsed = time.monotonic() - started
    assert results[0][0] == REQUEST_TIMED_OUT, results
    assert results[1] == (kafka_wire.ERROR_NONE, 0), results
    assert elapsed >= REQUEST_TIMEOUT_MS / 1000 * 0.9, f"answered after {elapsed:.2f}s"
    assert b.alive()
