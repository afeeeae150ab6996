"""Bad frames from many connections at once, with the broker's memory measured.

- Lengths that lie long: size prefixes claiming the largest allowed request
  (`socket.request.max.bytes`, 100 MiB) followed by a few bytes, held open. The broker must
  not set aside memory for what the prefix claims, only for what arrives; such connections
  are closed by `connection.request.read.timeout.ms`.
- Oversize frames: prefixes over the limit, closed before anything is buffered.
- Lengths that lie short: a prefix smaller than the header it carries; truncated frames: the
  stream ends inside a frame. Both closed.
- Random garbage from a seeded generator: every such connection is either answered or closed,
  and the broker stays up.

A confluent-kafka neighbour keeps producing and consuming throughout.
"""

import random
import socket
import struct

import kafka_wire
from hostile import MIB, MemoryBound, Neighbour, connect_from, is_served

REQUEST_MAX_BYTES = 100 * MIB  # the default socket.request.max.bytes, set explicitly
READ_TIMEOUT_MS = 3000
LYING_CONNECTIONS = 40
LYING_PAYLOAD_BYTES = 1000
GARBAGE_CONNECTIONS = 100
GARBAGE_SEED = 5
CLOSE_TIMEOUT_S = 10.0
RSS_GROWTH_MAX_BYTES = 96 * MIB  # 40 lying prefixes would claim 4000 MiB if believed


def start(broker):
    return broker(
        **{
            "socket.request.max.bytes": REQUEST_MAX_BYTES,
            "connection.request.read.timeout.ms": READ_TIMEOUT_MS,
        }
    )


def test_lengths_that_lie_long_cost_only_what_arrives(broker):
    b = start(broker)
    neighbour = Neighbour(b.bootstrap)
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)
    claim = struct.pack(">i", REQUEST_MAX_BYTES) + kafka_wire.request_header(kafka_wire.API_PRODUCE, 3, 1)
    liars = []
    try:
        for _ in range(LYING_CONNECTIONS):
            sock = connect_from(b.bootstrap, "127.0.0.2")
            sock.sendall(claim + b"\0" * LYING_PAYLOAD_BYTES)
            liars.append(sock)
        neighbour.round_trip("liars-connected")
        memory.check(f"with {LYING_CONNECTIONS} connections each claiming {REQUEST_MAX_BYTES} bytes")
        assert all(kafka_wire.wait_closed(sock, CLOSE_TIMEOUT_S) for sock in liars), (
            "a frame that never completes is closed by the request read timeout"
        )
        memory.check("after the liars were closed")
        neighbour.round_trip("liars-closed")
    finally:
        for sock in liars:
            sock.close()
    print(memory.summary())
    neighbour.close()


def oversize():
    return struct.pack(">i", REQUEST_MAX_BYTES + 1) + b"\0" * 64


def lying_short():
    header = kafka_wire.request_header(kafka_wire.API_METADATA, 1, 9)
    return struct.pack(">i", 6) + header[:6] + header[6:] + b"\0" * 32


def truncated():
    return struct.pack(">i", 200) + kafka_wire.request_header(kafka_wire.API_METADATA, 1, 9)


def test_oversize_short_and_truncated_frames_are_closed(broker):
    b = start(broker)
    neighbour = Neighbour(b.bootstrap)
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)
    for name, make in [("oversize", oversize), ("lying-short", lying_short), ("truncated", truncated)]:
        socks = []
        for _ in range(20):
            sock = connect_from(b.bootstrap, "127.0.0.2")
            sock.sendall(make())
            if name == "truncated":
                sock.shutdown(socket.SHUT_WR)
            socks.append(sock)
        closed = [kafka_wire.wait_closed(sock, CLOSE_TIMEOUT_S) for sock in socks]
        for sock in socks:
            sock.close()
        assert all(closed), f"{name}: {closed.count(False)} connections left open"
        neighbour.round_trip(name)
        memory.check(name)
    neighbour.close()


def test_random_garbage_is_answered_or_closed_never_fatal(broker):
    b = start(broker)
    neighbour = Neighbour(b.bootstrap)
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)
    rng = random.Random(GARBAGE_SEED)
    for index in range(GARBAGE_CONNECTIONS):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))
        # Half of them keep a plausible header (a served api key and version) before the garbage.
        if index % 2:
            api_key = rng.choice([0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 20, 22, 32, 37, 42, 47])
            body = kafka_wire.request_header(api_key, rng.randrange(0, 12), index) + body
        sock = connect_from(b.bootstrap, "127.0.0.2")
        try:
            sock.sendall(kafka_wire.frame(body))
            sock.shutdown(socket.SHUT_WR)
            assert kafka_wire.wait_closed(sock, CLOSE_TIMEOUT_S), f"garbage {index}: not closed after EOF"
        finally:
            sock.close()
        assert b.alive(), f"broker died on garbage {index}\n{b.stderr_tail()}"
    neighbour.round_trip("after-garbage")
    memory.check("after garbage")
    fresh = connect_from(b.bootstrap, "127.0.0.3")
    assert is_served(fresh)
    fresh.close()
    neighbour.close()
