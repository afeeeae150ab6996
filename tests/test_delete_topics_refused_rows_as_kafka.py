"""DeleteTopics rows that Apache Kafka 4.4's controller refuses (`ControllerApis.deleteTopics`),
on a single node and through a cluster broker that forwards to its controller.

Kafka answers INVALID_REQUEST, with these messages, for:
- a v6 row with a null name and the zero id;
- a v6 row with both a name and a non-zero id (the row echoed: its name and its id);
- a name asked twice (one row: the name, the zero id), an id asked twice (one row: a null name,
  the id), in any version;
- a topic asked once by name and once by id: one row, the name's, with the topic's id; the id's
  row is left out of the answer.
None of these topics is deleted; the request's other topics are. Kafka shuffles its rows, so
the answers are compared as sets. A name no topic has is answered with Kafka's message in a
cluster too (its controller's reply carries codes alone: the message was missing).

Before the fix millrace answered the null/zero row UNKNOWN_TOPIC_ID, deleted a topic asked by
name with an id (by its name), deleted a topic asked by name and by id (answering the second
row UNKNOWN_TOPIC_OR_PARTITION on a single node, INVALID_REQUEST in a cluster) and deleted a
name or an id asked twice (answering the repeat UNKNOWN_TOPIC_OR_PARTITION, or INVALID_REQUEST
in a cluster). Every expected answer below is what Kafka 4.4.0
answered the same requests (perf/peers/kafka.sh, raw DeleteTopics v6 and v5), 2026-12-07."""

import time
import uuid
from collections import Counter

import pytest
from confluent_kafka.admin import AdminClient

import kafka_wire
from clients import ADMIN_TIMEOUT_S, create_topic, quiet_config, unique_topic
from test_cluster_delete_topics_by_id_forwarded import BROKER_ONLY, cluster_up
from test_cluster_three_brokers_serve_clients import wait_for_topics
from test_delete_topics_v6_names_topic_ids import (
    DELETE_TIMEOUT_MS, NIL, delete_topics_v6_answers, topic_id_of,
)

NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST = 0, 3, 42
GONE_TIMEOUT_S = 10
UNKNOWN_TOPIC = "This server does not host this topic-partition."
NEITHER = "Neither topic name nor id were specified."
BOTH = "You may not specify both topic name and topic id."
DUPLICATE_NAME = "Duplicate topic name."
DUPLICATE_ID = "Duplicate topic id."
NAME_OF_ASKED_ID = "The provided topic name maps to an ID that was already supplied."


def distinct(rows):
    """`rows` as a set, none answered twice (Kafka answers a repeated name or id once)."""
    repeated = [row for row, count in Counter(rows).items() if count > 1]
    assert not repeated, f"rows answered more than once: {repeated}"
    return set(rows)


def answered(bootstrap, states):
    """The DeleteTopics v6 answer to (name or None, uuid) rows, as a set."""
    return distinct(list(delete_topics_v6_answers(bootstrap, states)))


def delete_topics_v5(bootstrap, names):
    """DeleteTopics v5 (`topic_names`); returns {(name, error_code, error_message)}."""
    body = kafka_wire.uvarint(len(names) + 1)
    for name in names:
        body += kafka_wire.compact_string(name)
    body += kafka_wire.int32(DELETE_TIMEOUT_MS) + kafka_wire.uvarint(0)
    with kafka_wire.connect(bootstrap) as sock:
        reader = kafka_wire.call(sock, kafka_wire.API_DELETE_TOPICS, 5, 1, body, flexible=True)
    reader.skip_tagged_fields()  # response header v1
    reader.int32()  # throttle_time_ms
    results = []
    for _ in range(reader.uvarint() - 1):
        name = reader.take(reader.uvarint() - 1).decode()
        error_code = reader.int16()
        size = reader.uvarint() - 1
        message = None if size < 0 else reader.take(size).decode()
        reader.skip_tagged_fields()
        results.append((name, error_code, message))
    return distinct(results)


def new_topics(bootstrap, *prefixes):
    """Creates one topic per prefix; returns [(name, id)]."""
    topics = []
    for prefix in prefixes:
        topic = unique_topic(prefix)
        create_topic(bootstrap, topic, 1)
        topics.append((topic, topic_id_of(bootstrap, topic)))
    return topics


def kept(bootstrap, topic, topic_id):
    """Whether `topic` still exists with id `topic_id`."""
    listed = AdminClient(quiet_config(bootstrap)).list_topics(timeout=ADMIN_TIMEOUT_S).topics
    return topic in listed and topic_id_of(bootstrap, topic) == topic_id


def gone(bootstrap, topic, topic_id):
    """Whether `topic` (id `topic_id`) is deleted within GONE_TIMEOUT_S (a broker applies the
    deletion after its controller)."""
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while kept(bootstrap, topic, topic_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def refused_row_cases(bootstrap, creating):
    """Each case on topics of its own (one case's deletion does not hide the next case's
    difference): yields (case, what millrace did, what Kafka 4.4 did)."""
    def fresh(*prefixes):
        topics = new_topics(creating, *prefixes)
        wait_for_topics(bootstrap, [name for name, _ in topics])
        return topics

    yield "null name, zero id", answered(bootstrap, [(None, NIL)]), {(None, NIL, INVALID_REQUEST, NEITHER)}

    missing = unique_topic("missing")
    got = answered(bootstrap, [(missing, NIL)])
    yield "a name no topic has", got, {(missing, NIL, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC)}

    [(t, t_id)] = fresh("both")
    other_id = uuid.uuid4()
    got = answered(bootstrap, [(t, other_id)]), answered(bootstrap, [(t, t_id)]), kept(bootstrap, t, t_id)
    yield "name and an id in one row", got, (
        {(t, other_id, INVALID_REQUEST, BOTH)}, {(t, t_id, INVALID_REQUEST, BOTH)}, True)

    for order in ("name, then id", "id, then name"):
        [(t, t_id)] = fresh("same")
        rows = [(t, NIL), (None, t_id)]
        rows = rows if order == "name, then id" else rows[::-1]
        got = answered(bootstrap, rows), kept(bootstrap, t, t_id)
        yield f"one topic by {order}", got, ({(t, t_id, INVALID_REQUEST, NAME_OF_ASKED_ID)}, True)

    [(t, t_id)] = fresh("dup-name")
    got = answered(bootstrap, [(t, NIL), (t, NIL)]), kept(bootstrap, t, t_id)
    yield "a name twice", got, ({(t, NIL, INVALID_REQUEST, DUPLICATE_NAME)}, True)

    [(t, t_id)] = fresh("dup-id")
    got = answered(bootstrap, [(None, t_id), (None, t_id)]), kept(bootstrap, t, t_id)
    yield "an id twice", got, ({(None, t_id, INVALID_REQUEST, DUPLICATE_ID)}, True)

    [(t, t_id)] = fresh("dup-v5")
    got = delete_topics_v5(bootstrap, [t, t]), kept(bootstrap, t, t_id)
    yield "a name twice, v5", got, ({(t, INVALID_REQUEST, DUPLICATE_NAME)}, True)

    (t, t_id), (u, u_id) = fresh("mixed", "mixed-other")
    rows = [(None, NIL), (None, t_id), (t, NIL), (None, t_id), (u, NIL)]
    got = answered(bootstrap, rows), kept(bootstrap, t, t_id)
    want = {
        (None, NIL, INVALID_REQUEST, NEITHER),
        (None, t_id, INVALID_REQUEST, DUPLICATE_ID),
        (t, t_id, INVALID_REQUEST, NAME_OF_ASKED_ID),
        (u, u_id, NONE, None),
    }
    yield "refused rows beside another topic, which is deleted", got, (want, True)

    [(t, t_id)] = fresh("name-twice-and-id")
    got = answered(bootstrap, [(t, NIL), (None, t_id), (t, NIL)]), gone(bootstrap, t, t_id)
    want = {(t, NIL, INVALID_REQUEST, DUPLICATE_NAME), (t, t_id, NONE, None)}
    yield "a name twice and its id: the id deletes the topic", got, (want, True)


def assert_refused_rows_answer_as_kafka(bootstrap, creating=None):
    """Every case through `bootstrap`, topics created through `creating` (default the same
    address); every case that differs from Kafka is reported."""
    differences = [
        f"{case}:\n    millrace {got}\n    kafka    {want}"
        for case, got, want in refused_row_cases(bootstrap, creating or bootstrap)
        if got != want
    ]
    assert not differences, "answered unlike Kafka 4.4:\n  " + "\n  ".join(differences)


def test_refused_rows_answer_as_kafka_on_a_single_node(broker):
    b = broker()
    assert_refused_rows_answer_as_kafka(b.bootstrap)


@pytest.mark.timeout(240)
def test_refused_rows_answer_as_kafka_through_a_forwarding_broker(millrace_cluster):
    """Node 3 is broker-only: it forwards every DeleteTopics to the controller."""
    cluster = cluster_up(millrace_cluster)
    assert_refused_rows_answer_as_kafka(
        cluster.node(BROKER_ONLY).bootstrap, creating=cluster.node(1).bootstrap
    )
