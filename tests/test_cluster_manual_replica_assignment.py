"""CreateTopics with a manual replica assignment (`kafka-topics --replica-assignment`,
`NewTopic(replica_assignment=...)`), as Kafka serves it (KRaft's
ReplicationControlManager.createTopic): the replicas are exactly those given, in that order, the
first active one leads; an inconsistent assignment is INVALID_REPLICA_ASSIGNMENT and a partition
count or replication factor sent with one is INVALID_REQUEST, and neither creates anything.
CreatePartitions' assignment of the added partitions is honoured and checked the same way.
Before, millrace took only the assignment's size and placed the replicas itself: an operator's
placement was silently replaced (an assignment [[2, 3]] got a controller-chosen leader 1)."""

import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from kafka.admin import KafkaAdminClient

from clients import consume_all, new_producer, produce_all, quiet_config, unique_topic
from java_clients import tool_ok
from test_cluster_three_brokers_serve_clients import wait_for_brokers, wait_for_topics

ADMIN_TIMEOUT_S = 30
TOPIC_TOOL = "org.apache.kafka.tools.TopicCommand"
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_REQUEST = 42
RECORDS_PER_PARTITION = 20


def assigned(name, assignment):
    """A NewTopic with a manual assignment: librdkafka wants the partition count it implies
    (and sends -1 counts on the wire)."""
    return NewTopic(name, num_partitions=len(assignment), replica_assignment=assignment)


def wait_for(what, condition, timeout_s=ADMIN_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def create(admin, topic):
    """The error code of creating one topic (0 when created)."""
    try:
        admin.create_topics([topic], request_timeout=ADMIN_TIMEOUT_S)[topic.topic].result(ADMIN_TIMEOUT_S)
        return 0
    except KafkaException as error:
        return error.args[0].code()


def grow(admin, topic, count, assignment):
    """The error code of raising `topic` to `count` partitions with `assignment` (0 when done)."""
    request = NewPartitions(topic, count, replica_assignment=assignment)
    try:
        admin.create_partitions([request], request_timeout=ADMIN_TIMEOUT_S)[topic].result(ADMIN_TIMEOUT_S)
        return 0
    except KafkaException as error:
        return error.args[0].code()


def layout(bootstrap, topic):
    """{partition: (leader, replicas)} from Metadata."""
    described = AdminClient(quiet_config(bootstrap)).list_topics(topic, timeout=ADMIN_TIMEOUT_S)
    return {p.id: (p.leader, list(p.replicas)) for p in described.topics[topic].partitions.values()}


def test_a_cluster_honours_a_manual_assignment_and_refuses_a_bad_one(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    bootstrap = cluster.node(1).bootstrap
    wait_for_brokers(bootstrap, 3)
    admin = AdminClient(quiet_config(bootstrap))

    topic = unique_topic("manual")
    assert create(admin, assigned(topic, [[2, 3], [3, 1], [2, 1]])) == 0
    wait_for_topics(bootstrap, [topic])
    assert layout(cluster.node(3).bootstrap, topic) == {0: (2, [2, 3]), 1: (3, [3, 1]), 2: (2, [2, 1])}

    # The records go to the leaders given and come back.
    producer = new_producer(bootstrap, acks="all")
    messages = [(f"k{p}-{i}".encode(), f"v{p}-{i}".encode()) for p in range(3)
                for i in range(RECORDS_PER_PARTITION)]
    log = produce_all(producer, topic, messages)
    assert not log.errors, log.errors[:3]
    read = consume_all(bootstrap, topic, 3)
    assert sum(len(records) for records in read.values()) == len(messages)

    # Kafka's own tool: --replica-assignment "2:3,3:1" (partition by comma, replicas by colon).
    tool_topic = unique_topic("manual-tool")
    created = tool_ok(TOPIC_TOOL, "--bootstrap-server", cluster.node(2).bootstrap, "--create",
                      "--topic", tool_topic, "--replica-assignment", "3:1,1:2")
    assert created.strip() == f"Created topic {tool_topic}."
    wait_for_topics(bootstrap, [tool_topic])
    assert layout(bootstrap, tool_topic) == {0: (3, [3, 1]), 1: (1, [1, 2])}

    # CreatePartitions with an assignment: the added partitions go where it says.
    assert grow(admin, topic, 4, [[1]]) == INVALID_REPLICA_ASSIGNMENT, "the topic has 2 replicas"
    assert grow(admin, topic, 5, [[1, 3]]) == INVALID_REPLICA_ASSIGNMENT, "one list per new partition"
    assert grow(admin, topic, 5, [[1, 3], [3, 2]]) == 0
    wait_for("5 partitions", lambda: len(layout(bootstrap, topic)) == 5)
    assert {p: v for p, v in layout(bootstrap, topic).items() if p >= 3} == {3: (1, [1, 3]), 4: (3, [3, 2])}

    bad = {
        "twice": [[1, 1]],
        "unknown": [[1, 42]],
        "uneven": [[1, 2], [3]],
    }
    for name, assignment in bad.items():
        refused = unique_topic(f"bad-{name}")
        assert create(admin, assigned(refused, assignment)) == INVALID_REPLICA_ASSIGNMENT, name
        assert refused not in admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics, name


def test_a_single_node_takes_an_assignment_of_itself_only(broker):
    """The single node is broker 0 (node.id's default)."""
    broker = broker()
    admin = AdminClient(quiet_config(broker.bootstrap))
    mine = unique_topic("manual-single")
    assert create(admin, assigned(mine, [[0], [0]])) == 0
    assert layout(broker.bootstrap, mine) == {0: (0, [0]), 1: (0, [0])}
    other = unique_topic("manual-other")
    assert create(admin, assigned(other, [[1]])) == INVALID_REPLICA_ASSIGNMENT
    assert other not in admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    assert grow(admin, mine, 3, [[1]]) == INVALID_REPLICA_ASSIGNMENT
    assert grow(admin, mine, 3, [[0]]) == 0
    assert layout(broker.bootstrap, mine)[2] == (0, [0])


def test_counts_sent_with_an_assignment_are_an_invalid_request(broker):
    """confluent-kafka always sends -1 counts with an assignment; kafka-python sends the counts
    it is given."""
    broker = broker()
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=ADMIN_TIMEOUT_S * 1000)
    try:
        name = unique_topic("manual-counted")
        answer = client.create_topics(
            {name: {"num_partitions": 1, "replication_factor": 1, "assignments": {0: [0]}}},
            raise_errors=False)
        assert [(t["name"], t["error_code"]) for t in answer["topics"]] == [(name, INVALID_REQUEST)], answer
        assert name not in client.list_topics()
    finally:
        client.close()
