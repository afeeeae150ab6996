"""A consumer group whose last member left stays an Empty group of protocol type `consumer`, as
in Apache Kafka 4.4 (which removes it at its next offsets cleanup, offsets.retention.check.
interval.ms, when it holds no offsets), even without committed offsets: DescribeGroups says
Empty, and DeleteGroups deletes it. Found by the conformance test: millrace forgot such a group
within 100 ms and then described it as Dead."""

import time

from confluent_kafka import Consumer, ConsumerGroupState
from confluent_kafka.admin import AdminClient

from clients import ADMIN_TIMEOUT_S, create_topic, new_producer, produce_all, quiet_config, unique_topic

PARTITIONS = 2
JOIN_TIMEOUT_S = 30.0
# Well past the coordinator's group tick (100 ms), which used to forget the group.
STAYS_EMPTY_FOR_S = 2.0


def describe(admin, group):
    return admin.describe_consumer_groups([group], request_timeout=ADMIN_TIMEOUT_S)[group].result(
        timeout=ADMIN_TIMEOUT_S
    )


def join_and_leave(bootstrap, topic, group):
    """A member joins, is assigned the topic's partitions, and leaves without committing."""
    config = quiet_config(bootstrap)
    config.update({"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer = Consumer(config)
    consumer.subscribe([topic])
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2)
    assigned = len(consumer.assignment())
    consumer.close()
    assert assigned == PARTITIONS, f"the member was assigned {assigned} of {PARTITIONS} partitions"


def test_group_without_offsets_stays_empty_after_its_last_member_leaves_and_can_be_deleted(broker):
    b = broker()
    topic, group = unique_topic("emptied"), unique_topic("emptied-group")
    create_topic(b.bootstrap, topic, PARTITIONS)
    log = produce_all(new_producer(b.bootstrap), topic, [(b"k", b"v")])
    assert not log.errors, log.errors
    join_and_leave(b.bootstrap, topic, group)
    admin = AdminClient(quiet_config(b.bootstrap))

    time.sleep(STAYS_EMPTY_FOR_S)
    described = describe(admin, group)
    assert (described.state, described.members) == (ConsumerGroupState.EMPTY, []), (
        f"{group} after its member left: {described.state}"
    )

    admin.delete_consumer_groups([group], request_timeout=ADMIN_TIMEOUT_S)[group].result(timeout=ADMIN_TIMEOUT_S)
    assert describe(admin, group).state == ConsumerGroupState.DEAD
