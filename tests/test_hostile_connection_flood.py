"""Connection floods: `max.connections.per.ip` and `max.connections` (Kafka's key names).

A flood from one address gets exactly `max.connections.per.ip` served connections; the rest
are closed at accept. A flood from several addresses stops at `max.connections` broker-wide.
Connections beside the flood (a confluent-kafka producer and consumer from 127.0.0.1) keep
working, the broker's memory stays bounded, and once the flood leaves its places are free again.
"""

import kafka_wire
from hostile import MIB, MemoryBound, Neighbour, connect_from, is_served, wait_until

PER_IP_LIMIT = 8
BROKER_LIMIT = 16
FLOOD_CONNECTIONS = 60
FLOOD_SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
RSS_GROWTH_MAX_BYTES = 64 * MIB
CLOSE_TIMEOUT_S = 5.0
FREED_TIMEOUT_S = 10.0
NEIGHBOUR_CONNECTIONS_MAX = 6


def open_flood(bootstrap, sources, count):
    """`count` connections round-robin over `sources`; returns (served, refused) socket lists."""
    opened = [connect_from(bootstrap, sources[i % len(sources)]) for i in range(count)]
    served, refused = [], []
    for index, sock in enumerate(opened):
        (served if is_served(sock, correlation_id=index) else refused).append(sock)
    return served, refused


def close_all(socks):
    for sock in socks:
        sock.close()


def test_flood_from_one_address_stops_at_max_connections_per_ip(broker):
    b = broker(**{"max.connections.per.ip": PER_IP_LIMIT})
    neighbour = Neighbour(b.bootstrap)
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)
    served, refused = open_flood(b.bootstrap, ["127.0.0.2"], FLOOD_CONNECTIONS)
    try:
        assert len(served) == PER_IP_LIMIT, f"{len(served)} served from one address, limit {PER_IP_LIMIT}"
        assert len(refused) == FLOOD_CONNECTIONS - PER_IP_LIMIT
        assert all(kafka_wire.wait_closed(sock, CLOSE_TIMEOUT_S) for sock in refused)
        other = connect_from(b.bootstrap, "127.0.0.5")
        assert is_served(other), "another address is not limited by the flood"
        other.close()
        neighbour.round_trip("during-flood")
        memory.check("during the flood")
        assert all(is_served(sock, correlation_id=1000) for sock in served), "admitted ones stay served"
    finally:
        close_all(served + refused)
    # The places are given back when the flood's connections close.
    assert wait_until(lambda: _served_once(b.bootstrap, "127.0.0.2"), FREED_TIMEOUT_S)
    neighbour.round_trip("after-flood")
    assert b.alive()
    assert "max.connections.per.ip (8) reached" in b.stderr_tail(), "refusals are logged"
    neighbour.close()


def test_flood_from_many_addresses_stops_at_max_connections(broker):
    b = broker(**{"max.connections": BROKER_LIMIT})
    neighbour = Neighbour(b.bootstrap)
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)
    served, refused = open_flood(b.bootstrap, FLOOD_SOURCES, FLOOD_CONNECTIONS)
    try:
        # librdkafka's producer and consumer hold a few places too (bootstrap and broker each).
        assert BROKER_LIMIT - NEIGHBOUR_CONNECTIONS_MAX <= len(served) < BROKER_LIMIT, len(served)
        assert all(kafka_wire.wait_closed(sock, CLOSE_TIMEOUT_S) for sock in refused)
        assert not _served_once(b.bootstrap, "127.0.0.5"), "the broker is full for every address"
        neighbour.round_trip("during-flood")
        memory.check("during the flood")
    finally:
        close_all(served + refused)
    assert wait_until(lambda: _served_once(b.bootstrap, "127.0.0.2"), FREED_TIMEOUT_S)
    neighbour.round_trip("after-flood")
    assert "max.connections (16) reached" in b.stderr_tail()
    neighbour.close()


def _served_once(bootstrap, source_ip):
    sock = connect_from(bootstrap, source_ip)
    try:
        return is_served(sock)
    finally:
        sock.close()
