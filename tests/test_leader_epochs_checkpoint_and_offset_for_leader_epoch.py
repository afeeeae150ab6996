"""Leader epochs on one node (issue 13): every batch stamped with the partition's leader epoch
(0, as a one-node Kafka's), Kafka's `leader-epoch-checkpoint` file in each partition directory
(kept over clean and unclean restarts, rebuilt from the log when missing or damaged, cut to the
recovered log), and OffsetForLeaderEpoch (key 23) over the wire with Kafka's answers: the end of
the current epoch is the log end offset, an epoch it cannot place is (-1, -1), a stale current
epoch FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH, unknown partitions
UNKNOWN_TOPIC_OR_PARTITION. The same answers are compared with Apache Kafka's by the
conformance test (sequence `epochs`); the Java client's and franz-go's use of them is in
test_leader_epochs_real_clients_validate_positions.py."""

import time

from confluent_kafka import TopicPartition

import kafka_wire
from clients import DeliveryLog, create_topic, new_consumer, new_producer, unique_topic

API_OFFSET_FOR_LEADER_EPOCH = 23
ERROR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERROR_FENCED_LEADER_EPOCH = 74
ERROR_UNKNOWN_LEADER_EPOCH = 75
CHECKPOINT = "leader-epoch-checkpoint"
# Kafka's format: version 0, one entry, epoch 0 from offset 0.
EPOCH_0_FROM_0 = "0\n1\n0 0\n"
RECORDS = 5
NO_EPOCH = -1
CHECKPOINT_WAIT_S = 10.0
CONSUME_TIMEOUT_S = 20.0


def offset_for_leader_epoch(bootstrap, topic, queries, version=3):
    """OffsetForLeaderEpoch v2/v3 for `queries` [(partition, current_epoch, epoch)] of one topic;
    returns [(partition, error_code, leader_epoch, end_offset)]."""
    partitions = b"".join(
        kafka_wire.int32(p) + kafka_wire.int32(current) + kafka_wire.int32(epoch) for p, current, epoch in queries
    )
    body = kafka_wire.int32(1) + kafka_wire.kafka_string(topic) + kafka_wire.int32(len(queries)) + partitions
    if version >= 3:
        body = kafka_wire.int32(-1) + body  # replica id: a consumer
    with kafka_wire.connect(bootstrap) as sock:
        reader = kafka_wire.call(sock, API_OFFSET_FOR_LEADER_EPOCH, version, 1, body)
    reader.int32()  # throttle time
    answers = []
    for _ in range(reader.int32()):
        reader.string()
        for _ in range(reader.int32()):
            error_code = reader.int16()
            partition = reader.int32()
            answers.append((partition, error_code, reader.int32(), reader.int64()))
    return answers


def produce_records(bootstrap, topic, count=RECORDS):
    producer = new_producer(bootstrap, acks="all")
    log = DeliveryLog()
    for i in range(count):
        producer.produce(topic, value=f"v{i}".encode(), partition=0, on_delivery=log)
    assert producer.flush(30) == 0
    assert not log.errors, log.errors


def wait_for_checkpoint(path, expected):
    deadline = time.monotonic() + CHECKPOINT_WAIT_S
    while time.monotonic() < deadline:
        if path.exists() and path.read_text() == expected:
            return
        time.sleep(0.1)
    found = path.read_text() if path.exists() else "(missing)"
    raise AssertionError(f"{path}: want {expected!r}, found {found!r}")


def test_offset_for_leader_epoch_answers_kafkas_way_and_checks_the_current_epoch(broker):
    b = broker()
    topic = unique_topic("epochs-wire")
    create_topic(b.bootstrap, topic, 2)
    produce_records(b.bootstrap, topic)
    with kafka_wire.connect(b.bootstrap) as sock:
        _, versions = kafka_wire.api_versions_v3(sock)
    assert versions.get(API_OFFSET_FOR_LEADER_EPOCH) == (2, 4), versions.get(API_OFFSET_FOR_LEADER_EPOCH)
    for version in (2, 3):
        answers = offset_for_leader_epoch(
            b.bootstrap,
            topic,
            [
                (0, NO_EPOCH, 0),  # the current epoch: ends at the log end offset
                (0, 0, 0),  # at the right current epoch
                (1, NO_EPOCH, 0),  # an empty partition: its epoch 0 starts and ends at 0
                (0, NO_EPOCH, 7),  # a future epoch: unknown
                (0, NO_EPOCH, NO_EPOCH),  # no epoch: unknown
                (0, 7, 0),  # a newer current epoch than the broker's
                (0, -2, 0),  # an older one (Kafka checks every value but -1)
                (9, NO_EPOCH, 0),  # no such partition
            ],
            version=version,
        )
        assert answers == [
            (0, 0, 0, RECORDS),
            (0, 0, 0, RECORDS),
            (1, 0, 0, 0),
            (0, 0, -1, -1),
            (0, 0, -1, -1),
            (0, ERROR_UNKNOWN_LEADER_EPOCH, -1, -1),
            (0, ERROR_FENCED_LEADER_EPOCH, -1, -1),
            (9, ERROR_UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
        ], f"v{version}"
    missing = offset_for_leader_epoch(b.bootstrap, unique_topic("epochs-missing"), [(0, NO_EPOCH, 0)])
    assert missing == [(0, ERROR_UNKNOWN_TOPIC_OR_PARTITION, -1, -1)]


def test_batches_carry_the_leader_epoch_and_committed_epochs_are_kept(broker):
    b = broker()
    topic = unique_topic("epochs-stamped")
    create_topic(b.bootstrap, topic, 1)
    produce_records(b.bootstrap, topic)
    consumer = new_consumer(b.bootstrap, **{"group.id": unique_topic("epochs-group"), "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        received = []
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while len(received) < RECORDS and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                received.append(msg)
        assert [m.offset() for m in received] == list(range(RECORDS))
        # Clients send -1; the broker stamps its epoch, as Kafka's leader does.
        assert {m.leader_epoch() for m in received} == {0}
        consumer.commit(offsets=[TopicPartition(topic, 0, 3, leader_epoch=0)], asynchronous=False)
        [committed] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        assert (committed.offset, committed.leader_epoch) == (3, 0)
    finally:
        consumer.close()


def test_checkpoint_is_kafkas_file_kept_over_restarts_and_rebuilt_from_the_log(broker):
    b = broker()
    topic = unique_topic("epochs-file")
    create_topic(b.bootstrap, topic, 3)
    produce_records(b.bootstrap, topic)
    dirs = [b.data_dir / f"{topic}-{p}" for p in range(3)]
    for d in dirs:
        wait_for_checkpoint(d / CHECKPOINT, EPOCH_0_FROM_0)

    b.kill()
    b.start()
    for d in dirs:
        assert (d / CHECKPOINT).read_text() == EPOCH_0_FROM_0
    assert offset_for_leader_epoch(b.bootstrap, topic, [(0, NO_EPOCH, 0)]) == [(0, 0, 0, RECORDS)]

    b.stop()
    (dirs[0] / CHECKPOINT).unlink()  # missing: the log is walked
    (dirs[1] / CHECKPOINT).write_text("0\n2\n0 0\n")  # damaged: the count is wrong
    # An epoch past the log end (its batches were lost with an unsynced tail): cut.
    (dirs[2] / CHECKPOINT).write_text("0\n2\n0 0\n3 100\n")
    b.start()
    for d in dirs:
        wait_for_checkpoint(d / CHECKPOINT, EPOCH_0_FROM_0)
    answers = offset_for_leader_epoch(b.bootstrap, topic, [(0, NO_EPOCH, 0), (1, NO_EPOCH, 0), (2, NO_EPOCH, 3)])
    assert answers == [(0, 0, 0, RECORDS), (1, 0, 0, 0), (2, 0, -1, -1)]
    assert "leader epochs rebuilt" in b.stderr_tail(1 << 20)
