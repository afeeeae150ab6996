"""Incremental fetch sessions (KIP-227) on the wire: a full fetch opens a session; incremental
fetches name only what changed and get back only partitions with something new; forgotten
partitions leave the session; a wrong epoch, an unknown session and a switch between topic
names and ids are refused with Kafka's codes; epoch -1 closes the session. Two shards, so the
session lives on whichever shard the connection landed on."""

import time

import kafka_wire
from clients import create_topic, unique_topic

SHARDS = 2
PARTITIONS = 3
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
FETCH_SESSION_TOPIC_ID_ERROR = 106
INITIAL_EPOCH = 0
FINAL_EPOCH = -1


def produce_one(sock, correlation_id, topic, partition, value):
    batch = kafka_wire.encode_record_batch([(b"k", value)], int(time.time() * 1000))
    results = kafka_wire.produce_v3(sock, correlation_id, topic, {partition: batch})
    error_code, base_offset = results[partition]
    assert error_code == 0, f"produce to {partition}: error {error_code}"
    return base_offset


def values(records):
    return [value for _, _, value in kafka_wire.decode_record_batches(records)]


def test_incremental_fetches_answer_only_what_changed(broker):
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("sessions")
    create_topic(b.bootstrap, topic, PARTITIONS)
    with kafka_wire.connect(b.bootstrap) as producer, kafka_wire.connect(b.bootstrap) as sock:
        for p in range(PARTITIONS):
            produce_one(producer, 10 + p, topic, p, f"first-{p}".encode())

        # Full fetch: every partition answered, a session opened.
        error, session, answered = kafka_wire.fetch_v11(
            sock, 1, 0, INITIAL_EPOCH, {topic: {p: 0 for p in range(PARTITIONS)}}
        )
        assert error == 0
        assert session != 0, "a full fetch with epoch 0 should open a fetch session"
        assert sorted(answered) == [(topic, p) for p in range(PARTITIONS)]
        for p in range(PARTITIONS):
            assert values(answered[(topic, p)][4]) == [f"first-{p}".encode()]

        # Incremental: the new offsets, nothing new anywhere: no partition answered.
        error, same, answered = kafka_wire.fetch_v11(
            sock, 2, session, 1, {topic: {p: 1 for p in range(PARTITIONS)}}
        )
        assert (error, same) == (0, session)
        assert answered == {}, f"unchanged partitions answered: {sorted(answered)}"

        # A record on partition 1: only partition 1 answered, though the request names none.
        produce_one(producer, 20, topic, 1, b"second-1")
        error, _, answered = kafka_wire.fetch_v11(sock, 3, session, 2, {})
        assert error == 0
        assert sorted(answered) == [(topic, 1)]
        error_code, high_watermark, _, _, records = answered[(topic, 1)]
        assert (error_code, high_watermark) == (0, 2)
        assert values(records) == [b"second-1"]

        # Partition 0 forgotten: its new record is not answered; partition 2's is.
        produce_one(producer, 21, topic, 0, b"second-0")
        produce_one(producer, 22, topic, 2, b"second-2")
        error, _, answered = kafka_wire.fetch_v11(sock, 4, session, 3, {topic: {1: 2}}, forgotten={topic: [0]})
        assert error == 0
        assert sorted(answered) == [(topic, 2)], f"answered {sorted(answered)}"
        assert values(answered[(topic, 2)][4]) == [b"second-2"]

        # The same epoch again (a duplicate): refused, the session is kept.
        error, refused_session, answered = kafka_wire.fetch_v11(sock, 5, session, 3, {})
        assert (error, refused_session, answered) == (INVALID_FETCH_SESSION_EPOCH, 0, {})

        # A session nobody opened.
        error, _, answered = kafka_wire.fetch_v11(sock, 6, session ^ 1, 4, {})
        assert (error, answered) == (FETCH_SESSION_ID_NOT_FOUND, {})

        # Topic ids (v13) in a session opened with names (v11).
        assert kafka_wire.fetch_v13_session_only(sock, 7, session, 4) == (FETCH_SESSION_TOPIC_ID_ERROR, 0)

        # The session is still at epoch 4, with partitions 1 and 2 (offset 2 each).
        error, _, answered = kafka_wire.fetch_v11(sock, 8, session, 4, {topic: {2: 2}})
        assert (error, answered) == (0, {})

        # Epoch -1 closes it: a sessionless answer (id 0) with the partitions named, then the
        # session is gone.
        error, closed, answered = kafka_wire.fetch_v11(sock, 9, session, FINAL_EPOCH, {topic: {0: 0}})
        assert (error, closed) == (0, 0)
        assert values(answered[(topic, 0)][4]) == [b"first-0", b"second-0"]
        error, _, _ = kafka_wire.fetch_v11(sock, 10, session, 5, {})
        assert error == FETCH_SESSION_ID_NOT_FOUND


def test_a_partition_in_error_is_answered_in_every_incremental_fetch(broker):
    """An offset past the end answers OFFSET_OUT_OF_RANGE with offsets -1 (as Kafka) each time,
    and a session keeps answering it until the client moves the offset."""
    b = broker()
    topic = unique_topic("sessions-error")
    create_topic(b.bootstrap, topic, 1)
    with kafka_wire.connect(b.bootstrap) as sock:
        produce_one(sock, 1, topic, 0, b"only")
        error, session, answered = kafka_wire.fetch_v11(sock, 2, 0, INITIAL_EPOCH, {topic: {0: 50}})
        assert answered[(topic, 0)][:3] == (1, -1, -1)  # OFFSET_OUT_OF_RANGE, no offsets
        assert error == 0 and session != 0
        for epoch in (1, 2):
            error, _, answered = kafka_wire.fetch_v11(sock, 10 + epoch, session, epoch, {})
            assert error == 0
            assert answered[(topic, 0)][:3] == (1, -1, -1), f"epoch {epoch}: {answered}"
        error, _, answered = kafka_wire.fetch_v11(sock, 20, session, 3, {topic: {0: 0}})
        assert error == 0
        assert answered[(topic, 0)][:3] == (0, 1, 0)
        assert values(answered[(topic, 0)][4]) == [b"only"]


def test_read_committed_fetches_get_an_empty_aborted_transactions_list(broker):
    """Kafka answers read_committed fetches with an empty aborted_transactions list, and
    read_uncommitted ones with null; an unknown partition gets an empty list either way."""
    b = broker()
    topic = unique_topic("aborted")
    create_topic(b.bootstrap, topic, 1)
    with kafka_wire.connect(b.bootstrap) as sock:
        produce_one(sock, 1, topic, 0, b"v")
        for isolation, expected in ((0, None), (1, 0)):
            _, _, answered = kafka_wire.fetch_v11(
                sock, 2 + isolation, 0, FINAL_EPOCH, {topic: {0: 0, 7: 0}}, isolation_level=isolation
            )
            assert answered[(topic, 0)][3] == expected, f"isolation {isolation}: {answered[(topic, 0)][3]}"
            unknown = answered[(topic, 7)]
            assert (unknown[0], unknown[3]) == (3, 0), f"isolation {isolation}: partition 7 {unknown}"


def test_a_full_fetch_on_another_connection_closes_the_session_it_names(broker):
    """A client that reconnects sends a full fetch naming its old session (Kafka closes it).
    Connections land on either shard, so over the rounds the session is closed both by its own
    shard and, told by the other, across shards."""
    b = broker(**{"num.shards": SHARDS})
    topic = unique_topic("sessions-close")
    create_topic(b.bootstrap, topic, 1)
    for round_number in range(6):
        with kafka_wire.connect(b.bootstrap) as first, kafka_wire.connect(b.bootstrap) as second:
            error, session, _ = kafka_wire.fetch_v11(first, 1, 0, INITIAL_EPOCH, {topic: {0: 0}}, max_wait_ms=0)
            assert error == 0 and session != 0, f"round {round_number}: no session opened"
            error, replacement, _ = kafka_wire.fetch_v11(second, 2, session, INITIAL_EPOCH, {topic: {0: 0}},
                                                          max_wait_ms=0)
            assert error == 0 and replacement not in (0, session)
            # The close may still be on its way to the other shard: the session must be gone
            # within the deadline (each fetch it still answers moves its epoch on).
            epoch, deadline = 1, time.monotonic() + 10
            while True:
                error, _, _ = kafka_wire.fetch_v11(first, 3 + epoch, session, epoch, {}, max_wait_ms=0)
                if error == FETCH_SESSION_ID_NOT_FOUND:
                    break
                assert error == 0 and time.monotonic() < deadline, f"round {round_number}: session not closed ({error})"
                epoch += 1
                time.sleep(0.05)
