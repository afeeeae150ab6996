"""Issue 14 §1: the room for recent data is given back when the host is short of memory
(`log.recent.memory.available.min.bytes`), as the kernel takes Kafka's page cache back.

- A broker told to keep more memory available than the host has (the key at 1 PiB) shrinks each
  shard's room to its floor (32 MiB, `millrace_recent_room_bytes`) within a few checks, holds no
  more than that once its writes are done (`millrace_recent_batches_bytes`), says so in its log,
  and a consumer from the start still reads every record in order (from disk).
- With the check off (0), the same writes stay in memory, well above that floor, and the room
  stays where it was (`log.recent.bytes.per.shard.initial`, 128 MiB: nothing read from the disk
  to grow it): what the first case gives back is the check's doing.
"""

import time

from clients import create_topic, unique_topic
from conftest import free_port
from test_metrics_endpoint_counts_produce_consume_and_lag import scrape, total
from test_recent_data_room_shared_by_demand import (
    WRITTEN_BYTES_MIN,
    assert_reads_back,
    produce,
    recent_bytes,
)

# More than any host has: the check always finds memory short.
AVAILABLE_MIN_BYTES_NEVER_MET = 1 << 50
# src/shard/memory_pressure.rs ROOM_UNDER_PRESSURE_MIN_BYTES.
ROOM_UNDER_PRESSURE_MIN_BYTES = 32 << 20
# Checks run every 250 ms; gauges are copied every 500 ms.
SETTLE_S = 15
POLL_S = 0.25


def gauges(http_port):
    text = scrape(http_port)
    return total(text, "millrace_recent_room_bytes"), total(text, "millrace_recent_batches_bytes")


def settled_gauges(http_port, done):
    """(room, held) once `done(room, held)`, or the last scrape after SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    room, held = gauges(http_port)
    while not done(room, held) and time.monotonic() < deadline:
        time.sleep(POLL_S)
        room, held = gauges(http_port)
    return room, held


def start(broker, available_min_bytes):
    http_port = free_port()
    b = broker(
        **{
            "num.shards": 1,
            "http.listener": f"127.0.0.1:{http_port}",
            "log.recent.memory.available.min.bytes": available_min_bytes,
        }
    )
    return b, http_port


def test_a_broker_short_of_memory_gives_back_its_recent_data_and_reads_stay_whole(broker):
    b, http_port = start(broker, AVAILABLE_MIN_BYTES_NEVER_MET)
    topic = unique_topic("recent-short")
    create_topic(b.bootstrap, topic, 1)
    produce(b.bootstrap, topic, "all")
    room, held = settled_gauges(
        http_port, lambda room, held: room == ROOM_UNDER_PRESSURE_MIN_BYTES and held <= room
    )
    assert room == ROOM_UNDER_PRESSURE_MIN_BYTES, (room, held)
    assert held <= ROOM_UNDER_PRESSURE_MIN_BYTES, (room, held)
    assert "under log.recent.memory.available.min.bytes" in b.stderr_tail(200_000)
    assert_reads_back(b.bootstrap, topic)


def test_with_the_check_off_the_same_writes_stay_in_memory(broker):
    b, http_port = start(broker, 0)
    topic = unique_topic("recent-kept")
    create_topic(b.bootstrap, topic, 1)
    produce(b.bootstrap, topic, "all")
    held = recent_bytes(http_port, at_least=WRITTEN_BYTES_MIN)
    time.sleep(3)  # three checks' time: nothing shrinks
    room, held_later = gauges(http_port)
    assert held >= WRITTEN_BYTES_MIN and held_later == held, (held, held_later)
    assert room > 2 * WRITTEN_BYTES_MIN, room
    assert "under log.recent.memory.available.min.bytes" not in b.stderr_tail(200_000)
    assert_reads_back(b.bootstrap, topic)
