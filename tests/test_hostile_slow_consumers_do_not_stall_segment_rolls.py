"""Consumers that never read their socket must not stall a producer whose segments roll.

Six raw-socket consumers each pipeline Fetch requests for cold data (served with `sendfile` from
a helper thread) and never read: each helper blocks on a full socket for up to 30 s. Meanwhile a
confluent-kafka producer writes to a topic with 4 KiB segments, so every few records roll a
segment, which truncates the old one on a blocking thread. Sends and storage work run on
separate pools, so every record is delivered within the producer's own timeout, and a topic
created meanwhile is created (its registry save has a pool of its own too). Before, they all
shared one 2-thread pool: the roll (holding the partition's append lock) waited behind the stalled
sends, about 30 s per two consumers, and the producer's messages timed out. Finally, a stalled
consumer is disconnected with a log line, not kept forever."""

import time

import kafka_wire
from clients import create_topic, new_producer, produce_all, unique_topic
from hostile import connect_from, socket_queues, wait_until
from test_hostile_never_reading_consumer import fetch_v4_frame, fill_topic

STALLED_CONSUMERS = 6
FETCHES_PER_CONSUMER = 50
CLIENT_RCVBUF_BYTES = 4096
ROLLING_SEGMENT_BYTES = 4096
RECORDS = 40
VALUE_BYTES = 1500  # a few records per 4 KiB segment: many rolls
# The producer's own bound: generous for a loaded machine, shorter than the stalls.
MESSAGE_TIMEOUT_MS = 20_000
STALL_SETTLE_S = 3.0
# The broker gives up on a client that reads nothing after 30 s (server/send.rs).
CLOSE_WITHIN_S = 60.0


def test_stalled_sendfile_consumers_do_not_stall_rolls(broker):
    # Recent batches off: fetches of written data go through sendfile on a helper thread.
    b = broker(**{"num.shards": 1, "log.recent.bytes.per.partition": 0})
    big_topic = unique_topic("cold")
    fill_topic(b.bootstrap, big_topic)
    rolling = unique_topic("rolling")
    create_topic(b.bootstrap, rolling, 1, {"segment.bytes": str(ROLLING_SEGMENT_BYTES)})

    stalled = []
    try:
        frames = b"".join(fetch_v4_frame(i, big_topic) for i in range(FETCHES_PER_CONSUMER))
        for index in range(STALLED_CONSUMERS):
            sock = connect_from(b.bootstrap, f"127.0.0.{index + 2}", rcvbuf_bytes=CLIENT_RCVBUF_BYTES)
            sock.sendall(frames)
            stalled.append(sock)
        time.sleep(STALL_SETTLE_S)
        # The test is only meaningful if the broker is stuck sending to several of them (the
        # others' answers wait for a helper).
        blocked = [socket_queues(b.port, sock.getsockname()[1])[0] > 0 for sock in stalled]
        assert sum(blocked) >= 2, f"the broker is stuck sending to {sum(blocked)} consumers"

        producer = new_producer(
            b.bootstrap,
            acks="all",
            **{"linger.ms": 0, "message.timeout.ms": MESSAGE_TIMEOUT_MS, "batch.num.messages": 1},
        )
        messages = [(f"k{i}".encode(), bytes([65 + i % 26]) * VALUE_BYTES) for i in range(RECORDS)]
        started = time.monotonic()
        log = produce_all(producer, rolling, messages, partition=0)
        elapsed = time.monotonic() - started
        failed = [(error.str(), key) for error, key, _ in log.errors]
        assert not failed, f"{len(failed)} records failed after {elapsed:.1f}s: {failed[:2]}"
        assert len(log.delivered) == RECORDS
        assert b.alive()
        assert "rolled segment" in b.stderr_tail(1 << 20)
        # The topic registry is saved on a pool of its own too.
        create_topic(b.bootstrap, unique_topic("created-meanwhile"), 1)

        closed = wait_until(lambda: "client did not read" in b.stderr_tail(1 << 20), CLOSE_WITHIN_S)
        assert closed, "a consumer that reads nothing was not disconnected"
    finally:
        for sock in stalled:
            sock.close()
