"""Issues 10 and 14 §1: the room for recent data is sized by demand. A broker starts each shard
with `log.recent.bytes.per.shard.initial` (128 MiB) and grows it, up to
`log.recent.bytes.per.shard.max`, only when a read goes to the disk for data a larger room would
have held. A producer alone no longer fills an eighth of the machine's memory, nor pays for the
kernel's fresh pages while it does (perf/RESULTS.md, "The room's first fill").

One broker with its defaults (one shard):
- 160 MB written with nobody reading: the room (`millrace_recent_room_bytes`) is still the
  initial 128 MiB, and the shard holds no more (`millrace_recent_batches_bytes`);
- a consumer from the start reads every record in order, from the disk, and the room grows past
  the initial size (each fetch that misses by at most four times what it reads);
- 40 MB more: the shard now keeps more than the initial room, and every record reads back.
"""

import time

from clients import consume_all, create_topic, new_producer, produce_all, unique_topic
from conftest import free_port
from test_metrics_endpoint_counts_produce_consume_and_lag import scrape, total
from test_recent_data_room_shared_by_demand import recent_bytes

# src/config/keys.rs: the default log.recent.bytes.per.shard.initial.
ROOM_INITIAL_BYTES = 128 << 20
VALUE_BYTES = 1000
FIRST_RECORDS = 160_000
MORE_RECORDS = 40_000
# A shard may exceed its room by batches not yet written (a producer's last requests) until the
# next write round evicts; librdkafka sends at most 1 MB per batch, a few in flight.
UNWRITTEN_SLACK_BYTES = 8 << 20
GAUGE_SETTLE_ATTEMPTS = 40
# Gauges are copied every 500 ms.
GAUGE_POLL_S = 0.25


def values(first, count):
    return [(None, b"%08d" % i + b"." * (VALUE_BYTES - 8)) for i in range(first, first + count)]


def produce(bootstrap, topic, first, count):
    producer = new_producer(bootstrap, **{"acks": "all", "linger.ms": 5})
    delivered = produce_all(producer, topic, values(first, count), partition=0)
    assert not delivered.errors, delivered.errors[:3]


def room_bytes(http_port):
    return total(scrape(http_port), "millrace_recent_room_bytes")


def room_grown_past(http_port, bytes_min):
    """The room gauge, scraped until above `bytes_min` (gauges are copied every 500 ms)."""
    room = room_bytes(http_port)
    for _ in range(GAUGE_SETTLE_ATTEMPTS):
        if room > bytes_min:
            break
        time.sleep(GAUGE_POLL_S)
        room = room_bytes(http_port)
    return room


def assert_reads_back(bootstrap, topic, records):
    got = [v for _, _, v in consume_all(bootstrap, topic, 1)[0]]
    assert len(got) == records, len(got)
    assert [v[:8] for v in got] == [b"%08d" % i for i in range(records)]


def test_a_producer_alone_keeps_the_initial_room_and_a_lagging_reader_grows_it(broker):
    http_port = free_port()
    # The memory check off: a host short of memory would shrink the room under test.
    b = broker(
        **{
            "num.shards": 1,
            "http.listener": f"127.0.0.1:{http_port}",
            "log.recent.memory.available.min.bytes": 0,
        }
    )
    topic = unique_topic("recent-demand")
    create_topic(b.bootstrap, topic, 1)
    produce(b.bootstrap, topic, 0, FIRST_RECORDS)
    held = recent_bytes(http_port, at_least=ROOM_INITIAL_BYTES - UNWRITTEN_SLACK_BYTES)
    assert room_bytes(http_port) == ROOM_INITIAL_BYTES
    assert held <= ROOM_INITIAL_BYTES + UNWRITTEN_SLACK_BYTES, held

    assert_reads_back(b.bootstrap, topic, FIRST_RECORDS)
    grown = room_grown_past(http_port, ROOM_INITIAL_BYTES)
    assert grown > ROOM_INITIAL_BYTES, grown

    produce(b.bootstrap, topic, FIRST_RECORDS, MORE_RECORDS)
    held = recent_bytes(http_port, at_least=ROOM_INITIAL_BYTES + (16 << 20))
    assert ROOM_INITIAL_BYTES + (16 << 20) <= held <= grown + UNWRITTEN_SLACK_BYTES, (held, grown)
    assert_reads_back(b.bootstrap, topic, FIRST_RECORDS + MORE_RECORDS)
