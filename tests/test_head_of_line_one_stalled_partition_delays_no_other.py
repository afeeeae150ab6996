"""One partition stuck on a slow device (the test-only fault layer makes its fdatasyncs take
seconds) must not delay requests for other partitions.

- The flusher: an acks=all Produce to partition A waits for its slow fdatasync; an acks=all
  Produce to partition B on the same shard is acknowledged meanwhile. Before, the flusher waited
  for every log's round, so B waited for A's fdatasync.
- The shard mesh: with two shards, Produce requests rolling A's segments (a roll fdatasyncs the
  old segment while it holds A's append lock) are in line on both shards; Fetch requests for
  topic B, sent from other connections and spanning both shards, are answered meanwhile. Before,
  each shard served the requests of a peer shard one ordered phase at a time, so B's fetch waited
  behind A's roll. Connections land on a shard by SO_REUSEPORT hash, so several stalling and
  several probing connections make sure both directions are exercised.
- The same partition: an acks=1 Produce waits for its O_DIRECT write only, not for the partition's
  own fdatasync in flight (issue 14 §2). Before, a flusher round held the partition's flush lock
  through its fdatasync, so the next write (and every acks=1 answer) queued behind the sync: the
  latency tail of acks=1 followed the device's sync latency.
- A roll: an acks=1 Produce that rolls its partition's segment waits for no sync either (issue 14
  §2). Before, the roll held the append lock through the old segment's fdatasync, its index files
  and the directory fsync: roll stalls of up to 492 ms were the produce p99 at the maximum rate."""

import socket
import time

import kafka_wire
from clients import create_topic, unique_topic

ALLOW_ENV = "MILLRACE_ALLOW_FAULT_INJECTION"
SLOW_SYNC_MS = 20_000
# Far below the stall, far above a normal answer on a loaded machine.
ANSWER_WITHIN_S = 10.0
STALLING_CONNECTIONS = 6
PROBING_CONNECTIONS = 8
ROLLING_SEGMENT_BYTES = 4096
ROLL_SETTLE_S = 1.5
# The smallest segment the broker makes (smaller segment.bytes are raised to it: storage/config.rs).
SEGMENT_BYTES_MIN = 16 * 1024


def batch_of(value_bytes):
    return kafka_wire.encode_record_batch([(b"k", b"x" * value_bytes)], int(time.time() * 1000))


def send_produce(sock, correlation_id, topic, batches, acks):
    """Sends one Produce v3 request without waiting for its answer."""
    partitions = b"".join(
        kafka_wire.int32(p) + kafka_wire.kafka_bytes(batch) for p, batch in batches.items()
    )
    body = (
        kafka_wire.kafka_string(None)
        + kafka_wire.int16(acks)
        + kafka_wire.int32(60_000)
        + kafka_wire.int32(1)
        + kafka_wire.kafka_string(topic)
        + kafka_wire.int32(len(batches))
        + partitions
    )
    header = kafka_wire.request_header(kafka_wire.API_PRODUCE, 3, correlation_id)
    sock.sendall(kafka_wire.frame(header + body))


def test_a_slow_fdatasync_delays_no_other_partitions_writes(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    slow, healthy = unique_topic("slowsync"), unique_topic("healthy")
    b = broker(**{"num.shards": 1, "storage.fault.plan": f"slow-sync:ms={SLOW_SYNC_MS}:file={slow}-0/"})
    create_topic(b.bootstrap, slow, 1)
    create_topic(b.bootstrap, healthy, 1)
    stalled = kafka_wire.connect(b.bootstrap)
    try:
        send_produce(stalled, 1, slow, {0: batch_of(100)}, acks=-1)
        time.sleep(ROLL_SETTLE_S)  # its fdatasync is under way
        with kafka_wire.connect(b.bootstrap, timeout_s=ANSWER_WITHIN_S) as sock:
            for i in range(3):
                try:
                    results = kafka_wire.produce_v3(sock, i, healthy, {0: batch_of(100)}, acks=-1)
                except socket.timeout:
                    raise AssertionError(f"acks=all produce {i} to {healthy} not answered in {ANSWER_WITHIN_S}s")
                assert results == {0: (kafka_wire.ERROR_NONE, i)}, results
    finally:
        stalled.close()


def test_an_acks1_produce_waits_for_no_fdatasync_of_its_own_partition(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    topic = unique_topic("ownsync")
    b = broker(**{"num.shards": 1, "storage.fault.plan": f"slow-sync:ms={SLOW_SYNC_MS}:file={topic}-0/"})
    create_topic(b.bootstrap, topic, 1)
    stalled = kafka_wire.connect(b.bootstrap)
    try:
        send_produce(stalled, 1, topic, {0: batch_of(100)}, acks=-1)
        time.sleep(ROLL_SETTLE_S)  # its fdatasync is under way
        with kafka_wire.connect(b.bootstrap, timeout_s=ANSWER_WITHIN_S) as sock:
            for i in range(3):
                started = time.monotonic()
                try:
                    results = kafka_wire.produce_v3(sock, i, topic, {0: batch_of(100)}, acks=1, timeout_ms=60_000)
                except socket.timeout:
                    raise AssertionError(
                        f"acks=1 produce {i} to {topic} not answered in {ANSWER_WITHIN_S}s "
                        f"while the partition's fdatasync ({SLOW_SYNC_MS} ms) is in flight"
                    )
                assert results == {0: (kafka_wire.ERROR_NONE, i + 1)}, (results, time.monotonic() - started)
    finally:
        stalled.close()


def test_an_acks1_produce_that_rolls_a_segment_waits_for_no_fdatasync(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    topic = unique_topic("rollsync")
    b = broker(**{"num.shards": 1, "storage.fault.plan": f"slow-sync:ms={SLOW_SYNC_MS}:file={topic}-0/"})
    create_topic(b.bootstrap, topic, 1, {"segment.bytes": str(SEGMENT_BYTES_MIN)})
    with kafka_wire.connect(b.bootstrap, timeout_s=ANSWER_WITHIN_S) as sock:
        # Fills the first segment (written, not synced: acks=1).
        big = batch_of(SEGMENT_BYTES_MIN + 1000)
        assert kafka_wire.produce_v3(sock, 0, topic, {0: big}, acks=1, timeout_ms=60_000) == {
            0: (kafka_wire.ERROR_NONE, 0)
        }
        started = time.monotonic()
        try:
            # Does not fit: rolls the segment.
            results = kafka_wire.produce_v3(sock, 1, topic, {0: batch_of(100)}, acks=1, timeout_ms=60_000)
        except socket.timeout:
            raise AssertionError(
                f"the acks=1 produce rolling {topic}'s segment not answered in {ANSWER_WITHIN_S}s "
                f"(each fdatasync takes {SLOW_SYNC_MS} ms)"
            )
        assert results == {0: (kafka_wire.ERROR_NONE, 1)}, (results, time.monotonic() - started)


def test_a_rolling_partition_delays_no_fetch_of_another_across_shards(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    rolling, probed = unique_topic("rollstall"), unique_topic("probed")
    b = broker(**{"num.shards": 2, "storage.fault.plan": f"slow-sync:ms={SLOW_SYNC_MS}:file={rolling}-"})
    create_topic(b.bootstrap, rolling, 2, {"segment.bytes": str(ROLLING_SEGMENT_BYTES)})
    create_topic(b.bootstrap, probed, 2)
    big = batch_of(ROLLING_SEGMENT_BYTES + 1000)
    with kafka_wire.connect(b.bootstrap) as sock:
        # Fills each partition's first segment (written, not synced: acks=1).
        assert kafka_wire.produce_v3(sock, 0, rolling, {0: big, 1: big}, acks=1) == {
            0: (kafka_wire.ERROR_NONE, 0),
            1: (kafka_wire.ERROR_NONE, 0),
        }

    stalling = [kafka_wire.connect(b.bootstrap) for _ in range(STALLING_CONNECTIONS)]
    try:
        for sock in stalling:
            # Each part rolls (or waits for the roll of) a segment on both shards.
            send_produce(sock, 1, rolling, {0: big, 1: big}, acks=1)
        time.sleep(ROLL_SETTLE_S)
        for probe in range(PROBING_CONNECTIONS):
            with kafka_wire.connect(b.bootstrap, timeout_s=ANSWER_WITHIN_S) as sock:
                try:
                    results = kafka_wire.fetch_v4(sock, probe, probed, {0: 0, 1: 0})
                except socket.timeout:
                    raise AssertionError(
                        f"fetch of {probed} (probe {probe}) not answered in {ANSWER_WITHIN_S}s "
                        f"while {rolling} rolls"
                    )
                assert {p: r[0] for p, r in results.items()} == {0: 0, 1: 0}, results
    finally:
        for sock in stalling:
            sock.close()
