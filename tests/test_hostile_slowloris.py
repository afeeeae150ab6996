"""Slowloris: connections that send a request one byte a second.

`connections.max.idle.ms` is set far away (60 s), so only `connection.request.read.timeout.ms`
can close them: each is closed within that timeout of its first byte (plus slack), while a
confluent-kafka neighbour keeps producing and consuming, a client sending whole requests keeps
being answered, and the broker's memory stays bounded.
"""

import time

import kafka_wire
from hostile import MIB, MemoryBound, Neighbour, connect_from, is_served

READ_TIMEOUT_MS = 2000
IDLE_MS = 60000
SLOW_CONNECTIONS = 40
BYTE_INTERVAL_S = 1.0
CLOSE_SLACK_S = 3.0
RSS_GROWTH_MAX_BYTES = 64 * MIB


def metadata_request_frame(correlation_id):
    # Metadata v1 for a long topic list: a request the broker would read for a while.
    topics = [f"slowloris-topic-{i}" for i in range(8)]
    body = kafka_wire.int32(len(topics)) + b"".join(kafka_wire.kafka_string(t) for t in topics)
    return kafka_wire.frame(kafka_wire.request_header(kafka_wire.API_METADATA, 1, correlation_id) + body)


def send_one_byte(sock, frame, position):
    """False once the broker has closed the connection."""
    try:
        sock.sendall(frame[position:position + 1])
        return True
    except OSError:
        return False


def test_one_byte_a_second_is_closed_by_the_request_read_timeout(broker):
    b = broker(**{"connection.request.read.timeout.ms": READ_TIMEOUT_MS, "connections.max.idle.ms": IDLE_MS})
    neighbour = Neighbour(b.bootstrap)
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)
    busy = connect_from(b.bootstrap, "127.0.0.1")
    slow = [connect_from(b.bootstrap, "127.0.0.2") for _ in range(SLOW_CONNECTIONS)]
    frame = metadata_request_frame(7)
    started = time.monotonic()
    try:
        deadline = started + READ_TIMEOUT_MS / 1000 + CLOSE_SLACK_S
        second = 0
        open_ = list(slow)
        while open_ and time.monotonic() < deadline:
            open_ = [sock for sock in open_ if send_one_byte(sock, frame, second)]
            assert is_served(busy, correlation_id=second), "a client sending whole requests is served"
            neighbour.round_trip(f"slowloris-{second}")
            memory.check(f"after {second + 1} bytes on each slow connection")
            second += 1
            time.sleep(BYTE_INTERVAL_S)
        assert second < len(frame), "the frame was sent whole before the timeout: test too short"
        still_open = [s for s in slow if not kafka_wire.wait_closed(s, max(deadline - time.monotonic(), 0.1))]
        assert not still_open, f"{len(still_open)} slow connections still open after {time.monotonic() - started:.1f}s"
        assert IDLE_MS / 1000 > time.monotonic() - started, "closed by the read timeout, not the idle one"
        assert is_served(busy, correlation_id=999)
        neighbour.round_trip("after-slowloris")
        assert "connection.request.read.timeout.ms" in b.stderr_tail(), "the reason is logged"
    finally:
        for sock in slow + [busy]:
            sock.close()
        neighbour.close()
