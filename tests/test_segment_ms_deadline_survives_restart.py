"""`segment.ms` rolls the active segment by record time, as Kafka does: a batch rolls it once its
timestamp is `segment.ms` past the timestamp of the segment's first batch. That timestamp is in
the file, so restarting the broker (cleanly or not) does not restart the timer: the roll happens
when it is due, not `segment.ms` after the restart."""

import time

from clients import consume_all, create_topic, new_producer, produce_all, unique_topic

SEGMENT_MS = 60_000


def segment_count(data_dir, topic):
    return len(list((data_dir / f"{topic}-0").glob("*.log")))


def produce_at(bootstrap, topic, key, timestamp_ms):
    producer = new_producer(bootstrap, acks="all")
    log = produce_all(producer, topic, [(key, b"v")], partition=0, timestamp_ms=timestamp_ms)
    assert not log.errors and len(log.delivered) == 1, log.errors


def test_the_roll_deadline_counts_from_the_first_batch_across_restarts(broker):
    b = broker()
    topic = unique_topic("segms")
    create_topic(b.bootstrap, topic, 1, config={"segment.ms": str(SEGMENT_MS)})
    first_ms = int(time.time() * 1000)
    produce_at(b.bootstrap, topic, b"first", first_ms)

    b.restart()
    # Half-way: no roll.
    produce_at(b.bootstrap, topic, b"half", first_ms + SEGMENT_MS // 2)
    assert segment_count(b.data_dir, topic) == 1
    # Due, counted from the first batch and not from the restart: a roll.
    second_ms = first_ms + SEGMENT_MS + 1_000
    produce_at(b.bootstrap, topic, b"due", second_ms)
    assert segment_count(b.data_dir, topic) == 2

    # The same after a kill -9: the new segment's clock started at its first batch.
    b.kill()
    b.start()
    produce_at(b.bootstrap, topic, b"not-yet", second_ms + SEGMENT_MS - 1_000)
    assert segment_count(b.data_dir, topic) == 2
    produce_at(b.bootstrap, topic, b"due-again", second_ms + SEGMENT_MS)
    assert segment_count(b.data_dir, topic) == 3

    keys = [key for _, key, _ in consume_all(b.bootstrap, topic, 1)[0]]
    assert keys == [b"first", b"half", b"due", b"not-yet", b"due-again"]
