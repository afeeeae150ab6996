"""SIGTERM is a clean, bounded shutdown: under acks=all load the broker stops accepting, answers
what is in flight, syncs, writes the clean marker and exits 0 within shutdown.timeout.ms; the next
start skips recovery (and says so) and every acknowledged record is there. A long-poll Fetch
does not hold the shutdown for its max wait."""

import signal
import struct
import time

import kafka_wire
from clients import AcksAllLoad, assert_contiguous_from_zero, consume_all, create_topic, unique_topic

PARTITIONS = 3
ACKED_BEFORE_SIGTERM = 20_000
LOAD_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_MS = 10_000
# What the tests allow for the exit: the configured bound plus process start-up slack.
EXIT_WAIT_S = SHUTDOWN_TIMEOUT_MS / 1000 + 5
THREAD_JOIN_TIMEOUT_S = 30.0
LONG_POLL_WAIT_MS = 30_000
# A long poll must not delay a shutdown by more than this.
LONG_POLL_SHUTDOWN_S_MAX = 3.0


def this_start_log(b):
    """The broker's stderr since its latest start (conftest marks each start)."""
    return b.stderr_tail(limit=1 << 20).rsplit(f"===== start #{b.starts}", 1)[-1]


def wait_for_log_text(b, text, timeout_s=LOAD_TIMEOUT_S):
    """This start's log once it holds `text` (the summary is logged when the last shard is
    ready, which may be just after the first shard answers)."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = this_start_log(b)
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def sigterm_and_time_exit(b):
    started = time.monotonic()
    b.process.send_signal(signal.SIGTERM)
    code = b.process.wait(timeout=EXIT_WAIT_S)
    return code, time.monotonic() - started


def test_sigterm_under_acks_all_load_exits_0_and_next_start_skips_recovery(broker):
    b = broker(**{"num.shards": 2, "shutdown.timeout.ms": SHUTDOWN_TIMEOUT_MS})
    topic = unique_topic("sigterm")
    create_topic(b.bootstrap, topic, PARTITIONS)
    load = AcksAllLoad(b.bootstrap, topic, **{"enable.idempotence": True, "log_level": 2})
    load.start()
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while len(load.acked) < ACKED_BEFORE_SIGTERM:
        assert time.monotonic() < deadline, f"only {len(load.acked)} acks in {LOAD_TIMEOUT_S}s"
        time.sleep(0.01)

    code, elapsed_s = sigterm_and_time_exit(b)  # the producer is still producing
    load.stopping.set()
    load.join(THREAD_JOIN_TIMEOUT_S)
    assert not load.is_alive(), "producer thread did not stop"
    assert code == 0, f"exit code {code}\n{b.stderr_tail()}"
    assert elapsed_s < SHUTDOWN_TIMEOUT_MS / 1000, f"shutdown took {elapsed_s:.1f}s"
    stopped_log = this_start_log(b)
    assert "millrace stopped cleanly" in stopped_log
    assert (b.data_dir / ".millrace_clean_shutdown").exists()
    acked = list(load.acked)

    b.start()
    start_log = wait_for_log_text(b, "millrace ready")
    assert "previous shutdown clean" in start_log, start_log
    assert "recovered segment" not in start_log and "log truncated" not in start_log, start_log
    assert "start-up summary" in start_log and "shards:" in start_log, start_log
    assert not (b.data_dir / ".millrace_clean_shutdown").exists(), "marker must be consumed at start"

    received = consume_all(b.bootstrap, topic, PARTITIONS)
    assert_contiguous_from_zero(received)
    present = {(p, o): v for p, records in received.items() for o, _, v in records}
    missing = [(p, o, v) for p, o, v in acked if present.get((p, o)) != v]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records missing, e.g. {missing[:5]}"


def long_poll_fetch_request(topic, partition, offset):
    """Fetch v4 waiting up to LONG_POLL_WAIT_MS for one byte at the log end."""
    return (
        kafka_wire.int32(-1)
        + kafka_wire.int32(LONG_POLL_WAIT_MS)
        + kafka_wire.int32(1)  # min bytes
        + kafka_wire.int32(1 << 20)
        + struct.pack(">b", 0)
        + kafka_wire.int32(1)
        + kafka_wire.kafka_string(topic)
        + kafka_wire.int32(1)
        + kafka_wire.int32(partition)
        + kafka_wire.int64(offset)
        + kafka_wire.int32(1 << 20)
    )


def test_sigterm_does_not_wait_for_a_long_poll_fetch(broker):
    b = broker(**{"num.shards": 2, "shutdown.timeout.ms": SHUTDOWN_TIMEOUT_MS})
    topic = unique_topic("longpoll")
    create_topic(b.bootstrap, topic, 1)
    sock = kafka_wire.connect(b.bootstrap, timeout_s=LONG_POLL_WAIT_MS / 1000 + 10)
    request = kafka_wire.request_header(kafka_wire.API_FETCH, 4, 7) + long_poll_fetch_request(topic, 0, 0)
    sock.sendall(kafka_wire.frame(request))
    time.sleep(0.5)  # the fetch is parked in its wait

    code, elapsed_s = sigterm_and_time_exit(b)

    assert code == 0, f"exit code {code}\n{b.stderr_tail()}"
    assert elapsed_s < LONG_POLL_SHUTDOWN_S_MAX, f"shutdown waited {elapsed_s:.1f}s for a long poll"
    response = kafka_wire.read_frame(sock)
    sock.close()
    # Answered (empty) before the connection closed, not cut off.
    assert response is not None and struct.unpack_from(">i", response)[0] == 7
