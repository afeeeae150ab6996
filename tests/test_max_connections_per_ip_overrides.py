"""`max.connections.per.ip.overrides` (Kafka's `hostName:count,ipAddress:count`): an address
named gets its own limit instead of `max.connections.per.ip`; `host:0` blocks it, and
`max.connections.per.ip=0` with overrides is Kafka's allowlist. As in Kafka,
`max.connections.per.ip=0` without overrides is refused at start (it would close every
connection). Loopback sources other than 127.0.0.1 stand for other clients."""

import kafka_wire
from hostile import connect_from, is_served
from kraft_files import serve_refused

CLOSE_TIMEOUT_S = 5


def test_overrides_block_and_raise_an_address_limit(broker):
    b = broker(**{"max.connections.per.ip": 1,
                  "max.connections.per.ip.overrides": "127.0.0.3:0, 127.0.0.4:3"})
    blocked = connect_from(b.bootstrap, "127.0.0.3")
    assert kafka_wire.wait_closed(blocked, CLOSE_TIMEOUT_S), "127.0.0.3:0 is blocked"
    blocked.close()
    # One at a time: the shards accept concurrently, so which of a burst is refused varies.
    raised = []
    try:
        for _ in range(3):
            raised.append(connect_from(b.bootstrap, "127.0.0.4"))
            assert is_served(raised[-1]), f"127.0.0.4 gets 3, not {len(raised) - 1}"
        raised.append(connect_from(b.bootstrap, "127.0.0.4"))
        assert kafka_wire.wait_closed(raised[-1], CLOSE_TIMEOUT_S), "and no 4th"
        raised.append(connect_from(b.bootstrap, "127.0.0.5"))
        assert is_served(raised[-1]), "another address gets max.connections.per.ip=1"
        raised.append(connect_from(b.bootstrap, "127.0.0.5"))
        assert kafka_wire.wait_closed(raised[-1], CLOSE_TIMEOUT_S), "and no 2nd"
    finally:
        for sock in raised:
            sock.close()


def test_zero_per_ip_without_overrides_is_refused(tmp_path):
    config_file = tmp_path / "server.properties"
    config_file.write_text(f"log.dirs={tmp_path / 'data'}\nmax.connections.per.ip=0\n")
    code, stderr = serve_refused(config_file)
    assert code != 0
    assert "max.connections.per.ip.overrides cannot be empty" in stderr, stderr
