"""connections.max.idle.ms: a connection that sends no whole request for that long is closed
(an idle client, or one trickling a frame byte by byte); one that keeps sending requests stays
open."""

import time

import kafka_wire

IDLE_MS = 1000
CLOSE_WITHIN_S = 5.0


def test_idle_and_trickling_connections_close_busy_ones_stay(broker):
    b = broker(**{"connections.max.idle.ms": IDLE_MS})
    idle = kafka_wire.connect(b.bootstrap)
    trickle = kafka_wire.connect(b.bootstrap)
    busy = kafka_wire.connect(b.bootstrap)
    try:
        frame = kafka_wire.frame(kafka_wire.request_header(18, 0, 7))
        start = time.monotonic()
        assert not kafka_wire.wait_closed(idle, IDLE_MS / 2000), "closed before the idle limit"
        for correlation_id in range(8):  # ~2 s of requests, one every 250 ms
            error_code, _ = kafka_wire.api_versions_v0(busy, correlation_id=correlation_id)
            assert error_code == kafka_wire.ERROR_NONE
            if correlation_id < len(frame):
                try:
                    trickle.sendall(frame[correlation_id:correlation_id + 1])
                except OSError:
                    pass  # already closed by the broker: checked below
            time.sleep(0.25)
        assert kafka_wire.wait_closed(idle, CLOSE_WITHIN_S), "idle connection still open"
        assert kafka_wire.wait_closed(trickle, CLOSE_WITHIN_S), "trickling connection still open"
        error_code, _ = kafka_wire.api_versions_v0(busy, correlation_id=99)
        assert error_code == kafka_wire.ERROR_NONE, "busy connection was closed"
    finally:
        for sock in (idle, trickle, busy):
            sock.close()
