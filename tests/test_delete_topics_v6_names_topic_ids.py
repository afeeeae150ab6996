"""DeleteTopics v6 answers each topic's id, as Apache Kafka does, whether the request named the
topic or gave its id (found by the conformance test against Kafka: a delete by name answered a
nil id). The ids are checked against the ones confluent-kafka's DescribeTopics reports."""

import uuid

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient

import kafka_wire
from clients import ADMIN_TIMEOUT_S, create_topic, quiet_config, unique_topic

DELETE_TOPICS_VERSION = 6
DELETE_TIMEOUT_MS = 30_000
UNKNOWN_TOPIC_OR_PARTITION = 3
TOPIC_DELETION_DISABLED = 73
UNKNOWN_TOPIC_ID = 100
# Apache Kafka 4.4's answer to an id no topic has (asked of Kafka itself): a null name, this text.
UNKNOWN_TOPIC_ID_MESSAGE = "This server does not host this topic ID."
NIL = uuid.UUID(int=0)


def topic_id_of(bootstrap, topic):
    admin = AdminClient(quiet_config(bootstrap))
    described = admin.describe_topics(TopicCollection([topic]), request_timeout=ADMIN_TIMEOUT_S)[topic]
    kafka_uuid = described.result(timeout=ADMIN_TIMEOUT_S).topic_id
    high = kafka_uuid.get_most_significant_bits() & (2**64 - 1)
    low = kafka_uuid.get_least_significant_bits() & (2**64 - 1)
    return uuid.UUID(int=(high << 64) | low)


def compact_nullable_string(text):
    return kafka_wire.uvarint(0) if text is None else kafka_wire.compact_string(text)


def read_compact_nullable_string(reader):
    size = reader.uvarint() - 1
    return None if size < 0 else reader.take(size).decode()


def delete_topics_v6(bootstrap, states):
    """Sends DeleteTopics v6 for (name or None, uuid) pairs; returns [(name, uuid, error_code)]."""
    return [answer[:3] for answer in delete_topics_v6_answers(bootstrap, states)]


def delete_topics_v6_answers(bootstrap, states):
    """Sends DeleteTopics v6 for (name or None, uuid) pairs; returns
    [(name, uuid, error_code, error_message)]."""
    body = kafka_wire.uvarint(len(states) + 1)
    for name, topic_id in states:
        body += compact_nullable_string(name) + topic_id.bytes + kafka_wire.uvarint(0)
    body += kafka_wire.int32(DELETE_TIMEOUT_MS) + kafka_wire.uvarint(0)
    with kafka_wire.connect(bootstrap) as sock:
        reader = kafka_wire.call(
            sock, kafka_wire.API_DELETE_TOPICS, DELETE_TOPICS_VERSION, 1, body, flexible=True
        )
    reader.skip_tagged_fields()  # response header v1
    reader.int32()  # throttle_time_ms
    results = []
    for _ in range(reader.uvarint() - 1):
        name = read_compact_nullable_string(reader)
        topic_id = uuid.UUID(bytes=reader.take(16))
        error_code = reader.int16()
        error_message = read_compact_nullable_string(reader)
        reader.skip_tagged_fields()
        results.append((name, topic_id, error_code, error_message))
    return results


def test_delete_by_name_and_by_id_answer_the_topic_ids(broker):
    b = broker()
    by_name, by_id = unique_topic("del-name"), unique_topic("del-id")
    for topic in (by_name, by_id):
        create_topic(b.bootstrap, topic, 1)
    name_id, id_id = topic_id_of(b.bootstrap, by_name), topic_id_of(b.bootstrap, by_id)
    assert NIL not in (name_id, id_id), "DescribeTopics gave a nil topic id"

    answered = delete_topics_v6(b.bootstrap, [(by_name, NIL), (None, id_id)])

    assert answered == [(by_name, name_id, 0), (by_id, id_id, 0)], answered


def test_delete_of_a_missing_topic_answers_a_nil_id(broker):
    b = broker()
    missing = unique_topic("del-missing")
    assert delete_topics_v6(b.bootstrap, [(missing, NIL)]) == [(missing, NIL, UNKNOWN_TOPIC_OR_PARTITION)]


def test_delete_of_an_unknown_id_answers_a_null_name_as_kafka(broker):
    b = broker()
    unknown = uuid.uuid4()
    answered = delete_topics_v6_answers(b.bootstrap, [(None, unknown)])
    assert answered == [(None, unknown, UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_ID_MESSAGE)], answered


def test_deletion_disabled_answers_each_topic_as_the_request_gave_it(broker):
    """delete.topic.enable=false, as Kafka 4.4's controller: the whole request is refused before
    any topic is looked up (ControllerApis.deleteTopics throws), so DeleteTopicsRequest's error
    response echoes each topic as sent (a name with a nil id, an id with no name), code 73, and
    no message. Both topics stay."""
    b = broker(**{"delete.topic.enable": "false"})
    by_name, by_id = unique_topic("kept-name"), unique_topic("kept-id")
    for topic in (by_name, by_id):
        create_topic(b.bootstrap, topic, 1)
    id_id = topic_id_of(b.bootstrap, by_id)

    answered = delete_topics_v6_answers(b.bootstrap, [(by_name, NIL), (None, id_id)])

    assert answered == [(by_name, NIL, TOPIC_DELETION_DISABLED, None),
                        (None, id_id, TOPIC_DELETION_DISABLED, None)], answered
    assert topic_id_of(b.bootstrap, by_id) == id_id
    assert topic_id_of(b.bootstrap, by_name) != NIL
