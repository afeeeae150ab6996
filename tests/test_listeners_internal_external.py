"""Issues 12 and 13: several client listeners, as Kafka deployments name them (an INTERNAL listener
for brokers, an EXTERNAL one for clients, each advertised at its own address;
`inter.broker.listener.name` picks the brokers' one). Each listener is served; Metadata,
DescribeCluster, FindCoordinator and the KIP-951 leader endpoints answer with the addresses of the
listener the client connected to; in a cluster, followers replicate through INTERNAL.

The EXTERNAL listeners are advertised as `localhost` and the INTERNAL ones as `127.0.0.1`, so
which listener an answer describes shows in its host."""

import time

from clients import consume_all, new_producer, produce_all, quiet_config, unique_topic
from cluster_fixture import distinct_free_ports
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from java_clients import tool_ok
from kraft_files import combined_voter_lines, file_node, file_nodes  # noqa: F401 (a fixture)

ADMIN_TIMEOUT_S = 30
MESSAGES = 300
PARTITIONS = 3
CLUSTER_NODES = 3
BROKERS_LISTED_TIMEOUT_S = 60
ISR_TIMEOUT_S = 60
POLL_INTERVAL_S = 0.2
GROUP_TIMEOUT_S = 60
EXTERNAL_HOST = "localhost"
INTERNAL_HOST = "127.0.0.1"
JAVA_LINES = 20
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
PROTOCOL_MAP = "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"


def listener_lines(internal_port, external_port, controller_port=None):
    listeners = [f"INTERNAL://{INTERNAL_HOST}:{internal_port}", f"EXTERNAL://0.0.0.0:{external_port}"]
    if controller_port is not None:
        listeners.append(f"CONTROLLER://{INTERNAL_HOST}:{controller_port}")
    return [
        f"listeners={','.join(listeners)}",
        f"advertised.listeners=INTERNAL://{INTERNAL_HOST}:{internal_port},"
        f"EXTERNAL://{EXTERNAL_HOST}:{external_port}",
        "inter.broker.listener.name=INTERNAL",
        PROTOCOL_MAP,
        "num.shards=1",
    ]




def metadata_brokers(bootstrap):
    admin = AdminClient(quiet_config(bootstrap))
    brokers = admin.list_topics(timeout=ADMIN_TIMEOUT_S).brokers
    return sorted((b.id, b.host, b.port) for b in brokers.values())


def described_brokers(bootstrap):
    admin = AdminClient(quiet_config(bootstrap))
    cluster = admin.describe_cluster(request_timeout=ADMIN_TIMEOUT_S).result(timeout=ADMIN_TIMEOUT_S)
    return sorted((n.id, n.host, n.port) for n in cluster.nodes)


def group_round_trip(bootstrap, topic, expected):
    """Reads everything in a consumer group (FindCoordinator, JoinGroup, commits) through
    `bootstrap`, commits, and reads the committed offsets back."""
    group = unique_topic("group")
    consumer = Consumer({**quiet_config(bootstrap), "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + GROUP_TIMEOUT_S
    while len(got) < len(expected) and time.monotonic() < deadline:
        message = consumer.poll(POLL_INTERVAL_S)
        if message is not None and message.error() is None:
            got.append((message.key(), message.value()))
    consumer.commit(asynchronous=False)
    committed = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=ADMIN_TIMEOUT_S)
    consumer.close()
    assert sorted(got) == sorted(expected)
    assert sum(tp.offset for tp in committed) == len(expected), committed


def test_single_node_serves_each_listener_with_its_own_addresses(tmp_path, file_nodes):
    internal, external = distinct_free_ports(2)
    node = file_node(tmp_path, "single", ["node.id=1", *listener_lines(internal, external)], external)
    file_nodes.append(node.start())
    inside, outside = f"{INTERNAL_HOST}:{internal}", f"{EXTERNAL_HOST}:{external}"

    assert metadata_brokers(inside) == [(1, INTERNAL_HOST, internal)]
    assert metadata_brokers(outside) == [(1, EXTERNAL_HOST, external)]
    assert described_brokers(inside) == [(1, INTERNAL_HOST, internal)]
    assert described_brokers(outside) == [(1, EXTERNAL_HOST, external)]

    topic = unique_topic("listeners")
    admin = AdminClient(quiet_config(outside))
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=ADMIN_TIMEOUT_S)
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(MESSAGES)]
    log = produce_all(new_producer(outside, acks="all"), topic, sent)
    assert not log.errors, log.errors[:3]
    received = consume_all(inside, topic, PARTITIONS)
    assert sorted((k, v) for records in received.values() for _, k, v in records) == sorted(sent)
    group_round_trip(outside, topic, sent)


def wait_until(check, timeout_s, what):
    """Polls `check` until it returns True; a client error while the cluster forms (brokers
    still fenced) is another "not yet"."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            outcome = check()
        except KafkaException as error:
            outcome = repr(error)
        if outcome is True:
            return
        assert time.monotonic() < deadline, f"{what}: {outcome}"
        time.sleep(POLL_INTERVAL_S)


def test_cluster_replicates_over_internal_and_answers_clients_on_external(tmp_path, file_nodes):
    ports = distinct_free_ports(3 * CLUSTER_NODES)
    internal, external, controller = (ports[i::3] for i in range(3))
    voters = ",".join(f"{i + 1}@{INTERNAL_HOST}:{controller[i]}" for i in range(CLUSTER_NODES))
    for i in range(CLUSTER_NODES):
        lines = [
            *combined_voter_lines(i + 1, voters),
            *listener_lines(internal[i], external[i], controller[i]),
        ]
        node = file_node(tmp_path, f"node{i + 1}", lines, external[i])
        file_nodes.append(node)
    for node in file_nodes:
        node.launch()
    for node in file_nodes:
        node.wait_ready()
    outside = ",".join(f"{EXTERNAL_HOST}:{port}" for port in external)
    inside = f"{INTERNAL_HOST}:{internal[0]}"
    expected_outside = [(i + 1, EXTERNAL_HOST, external[i]) for i in range(CLUSTER_NODES)]
    expected_inside = [(i + 1, INTERNAL_HOST, internal[i]) for i in range(CLUSTER_NODES)]
    wait_until(lambda: metadata_brokers(outside) == expected_outside or metadata_brokers(outside),
               BROKERS_LISTED_TIMEOUT_S, "brokers listed on EXTERNAL")
    assert metadata_brokers(inside) == expected_inside
    assert described_brokers(outside) == expected_outside

    topic = unique_topic("listeners-rf3")
    admin = AdminClient(quiet_config(outside))
    admin.create_topics([NewTopic(topic, PARTITIONS, CLUSTER_NODES)])[topic].result(timeout=ADMIN_TIMEOUT_S)
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(MESSAGES)]
    log = produce_all(new_producer(outside, acks="all"), topic, sent)
    assert not log.errors, log.errors[:3]

    def full_isr():
        partitions = AdminClient(quiet_config(outside)).list_topics(topic, timeout=ADMIN_TIMEOUT_S).topics[topic].partitions
        isrs = {p: sorted(meta.isrs) for p, meta in partitions.items()}
        return all(isr == [1, 2, 3] for isr in isrs.values()) or isrs

    # Followers fetch from the leaders' INTERNAL endpoints: every replica in sync.
    wait_until(full_isr, ISR_TIMEOUT_S, "ISR of every partition")
    received = consume_all(outside, topic, PARTITIONS)
    assert sorted((k, v) for records in received.values() for _, k, v in records) == sorted(sent)
    group_round_trip(outside, topic, sent)

    # The Java client (Kafka's console tools) through EXTERNAL: it follows the EXTERNAL
    # addresses Metadata and FindCoordinator give it, to the RF=3 topic's leaders.
    lines = [f"java-{i}" for i in range(JAVA_LINES)]
    tool_ok(CONSOLE_PRODUCER, "--bootstrap-server", outside, "--topic", topic,
            "--producer-property", "acks=all", input="\n".join(lines) + "\n")
    consumed = tool_ok(CONSOLE_CONSUMER, "--bootstrap-server", outside, "--topic", topic,
                       "--from-beginning", "--max-messages", str(MESSAGES + JAVA_LINES),
                       "--group", unique_topic("java-group"))
    values = consumed.splitlines()
    assert sorted(v for v in values if v.startswith("java-")) == sorted(lines), values[-30:]
    assert len(values) == MESSAGES + JAVA_LINES
