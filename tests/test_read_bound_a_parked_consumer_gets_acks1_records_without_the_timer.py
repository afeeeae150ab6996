"""A tailing consumer under the durable read bound (issue 14 §2). Consumers read only fsynced
records; acks=1 records are fsynced when `log.flush.visibility.ms` comes due, unless a consumer's
fetch is parked on the partition: then the broker fsyncs what it wrote at once. With the timer
set to ten minutes, a librdkafka consumer that is already polling must receive an acks=1 record
within seconds, and a record nobody waits for must stay unreadable (the timer still governs
it), so the first half cannot pass by some other sync."""

import time

from confluent_kafka import TopicPartition

from clients import create_topic, latest_offset, new_consumer, new_producer, produce_all, unique_topic

VISIBILITY_MS = 600_000
# Far below the timer, far above one fsync and a few fetch rounds on a loaded machine.
RECEIVED_WITHIN_S = 20
RECORDS = 5


def produce_acks1(bootstrap, topic, value):
    producer = new_producer(bootstrap, acks="1", **{"enable.idempotence": False, "linger.ms": 0})
    log = produce_all(producer, topic, [(b"k", value)], partition=0)
    assert not log.errors and len(log.delivered) == 1, log.errors
    return log.delivered[0][1]


def next_record(consumer, deadline):
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            return msg.offset(), msg.value()
    return None


def test_a_polling_consumer_gets_each_acks1_record_without_waiting_for_the_timer(broker):
    b = broker(**{"log.flush.visibility.ms": str(VISIBILITY_MS)})
    topic = unique_topic("parked-reader")
    create_topic(b.bootstrap, topic, 1)
    consumer = new_consumer(b.bootstrap, **{"enable.partition.eof": False, "fetch.wait.max.ms": 500})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        assert next_record(consumer, time.monotonic() + 2) is None
        for i in range(RECORDS):
            value = f"tail-{i}".encode()
            offset = produce_acks1(b.bootstrap, topic, value)
            sent_at = time.monotonic()
            got = next_record(consumer, sent_at + RECEIVED_WITHIN_S)
            waited_s = time.monotonic() - sent_at
            assert got == (offset, value), f"record {i} not received in {waited_s:.1f}s: {got}"
    finally:
        consumer.close()


def test_a_record_nobody_waits_for_stays_unreadable_until_the_timer(broker):
    b = broker(**{"log.flush.visibility.ms": str(VISIBILITY_MS)})
    topic = unique_topic("unparked")
    create_topic(b.bootstrap, topic, 1)
    produce_acks1(b.bootstrap, topic, b"unwatched")
    time.sleep(2)
    assert latest_offset(b.bootstrap, topic) == 0, "synced with no reader parked and the timer far off"
