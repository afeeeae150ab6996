"""KIP-430 authorized operations. Asked for them, Kafka answers the operations the client may
perform; without ACLs that is every operation the resource type supports (Kafka's
AclEntry.supportedOperations). librdkafka reads them from Metadata (describe_topics,
describe_cluster) and DescribeGroups; Java's AdminClient.describeCluster uses DescribeCluster
(key 60), checked here on the wire."""

from confluent_kafka import Consumer, TopicCollection
from confluent_kafka.admin import AclOperation, AdminClient

import kafka_wire
from clients import create_topic, quiet_config, unique_topic

TIMEOUT_S = 30.0
API_DESCRIBE_CLUSTER = 60

TOPIC_OPERATIONS = {
    AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE,
    AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS,
}
CLUSTER_OPERATIONS = {
    AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.CLUSTER_ACTION,
    AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE,
}
GROUP_OPERATIONS = {
    AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE, AclOperation.DESCRIBE_CONFIGS,
    AclOperation.ALTER_CONFIGS,
}
# The same sets as Kafka's 32-bit fields (bit = AclOperation code).
CLUSTER_BITS = sum(1 << code for code in (5, 7, 8, 9, 10, 11, 12))
NOT_REQUESTED = -(2**31)


def operations(described):
    return set(described.authorized_operations or [])


def test_describe_topics_and_cluster_return_every_operation(broker):
    b = broker()
    topic = unique_topic("acl-ops")
    create_topic(b.bootstrap, topic, 1)
    admin = AdminClient(quiet_config(b.bootstrap))

    described = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
    assert operations(described[topic].result(timeout=TIMEOUT_S)) == TOPIC_OPERATIONS

    cluster = admin.describe_cluster(include_authorized_operations=True).result(timeout=TIMEOUT_S)
    assert operations(cluster) == CLUSTER_OPERATIONS

    plain = admin.describe_topics(TopicCollection([topic])).get(topic).result(timeout=TIMEOUT_S)
    assert not plain.authorized_operations, "operations were not asked for"


def test_describe_groups_returns_every_group_operation(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("acl-ops-g")
    group = unique_topic("acl-ops-group")
    create_topic(b.bootstrap, topic, 1)
    config = quiet_config(b.bootstrap)
    config.update({"group.id": group, "auto.offset.reset": "earliest"})
    consumer = Consumer(config)
    try:
        consumer.subscribe([topic])
        consumer.poll(1.0)
        admin = AdminClient(quiet_config(b.bootstrap))
        [future] = admin.describe_consumer_groups([group], include_authorized_operations=True).values()
        assert operations(future.result(timeout=TIMEOUT_S)) == GROUP_OPERATIONS
    finally:
        consumer.close()


def describe_cluster_v1(sock, correlation_id, include_operations, endpoint_type=1):
    body = bytes([int(include_operations), endpoint_type]) + kafka_wire.uvarint(0)
    reader = kafka_wire.call(sock, API_DESCRIBE_CLUSTER, 1, correlation_id, body, flexible=True)
    reader.skip_tagged_fields()  # response header v1
    reader.int32()  # throttle
    error_code = reader.int16()
    message_len = reader.uvarint()
    if message_len:
        reader.take(message_len - 1)
    reader.int8()  # endpoint type
    reader.take(reader.uvarint() - 1)  # cluster id
    controller = reader.int32()
    brokers = []
    for _ in range(reader.uvarint() - 1):
        broker_id = reader.int32()
        host = reader.take(reader.uvarint() - 1).decode()
        port = reader.int32()
        rack_len = reader.uvarint()
        if rack_len:
            reader.take(rack_len - 1)
        reader.skip_tagged_fields()
        brokers.append((broker_id, host, port))
    return error_code, controller, brokers, reader.int32()


def test_describe_cluster_api_is_served_with_the_cluster_operations(broker):
    b = broker()
    host, port = b.bootstrap.rsplit(":", 1)
    with kafka_wire.connect(b.bootstrap) as sock:
        error, controller, brokers, ops = describe_cluster_v1(sock, 1, include_operations=True)
        assert (error, brokers, ops) == (0, [(controller, host, int(port))], CLUSTER_BITS)
        assert describe_cluster_v1(sock, 2, include_operations=False)[3] == NOT_REQUESTED
        error = describe_cluster_v1(sock, 3, include_operations=False, endpoint_type=2)[0]
        assert error == 114, "a controller endpoint asked of a broker: MISMATCHED_ENDPOINT_TYPE"
