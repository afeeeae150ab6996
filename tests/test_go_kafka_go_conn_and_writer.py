"""segmentio/kafka-go 0.2.1 (Debian's golang-github-segmentio-kafka-go-dev) against the
broker: Conn-level CreateTopics (v0) / ReadPartitions (Metadata v1) / DeleteTopics, and the
Writer and group Reader, which speak only magic 1 message sets (Produce/Fetch v2), and the
group protocol of the Reader seen from outside. The Conn and Writer/Reader tests also run the
same program built against the newest kafka-go (0.4, record batches)."""

import json
import subprocess
import time

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from clients import create_topic, quiet_config, unique_topic
from goclients.harness import BUILDS, DEBIAN, binary, kafka_go

PARTITIONS = 4
MESSAGES = 400
METADATA_TIMEOUT_S = 10
JOIN_RUN_MS = 4000
SESSION_TIMEOUT_S = 6
EXIT_GRACE_S = 10
POLL_INTERVAL_S = 0.1


@pytest.mark.parametrize("kind", BUILDS)
def test_conn_creates_reads_partitions_and_deletes_a_topic(broker, kind):
    b = broker()
    topic = unique_topic("kafka-go-conn")
    result = kafka_go(kind, bootstrap=b.bootstrap, scenario="conn", topic=topic, partitions=PARTITIONS)
    assert result["partitions"] == list(range(PARTITIONS))
    # kafka-go's CreateTopics swallows TOPIC_ALREADY_EXISTS itself; any other answer is an error.
    assert result["create_again_error"] == "<nil>"
    assert result["deleted"] is True
    topics = AdminClient(quiet_config(b.bootstrap)).list_topics(timeout=METADATA_TIMEOUT_S).topics
    assert topic not in topics


@pytest.mark.parametrize("kind", BUILDS)
@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4"])
def test_writer_and_group_reader_round_trip_every_message(broker, kind, compression):
    """kafka-go 0.2.1's Writer sends magic 1 messages (Produce v2) and its Reader parses only
    magic 0/1 (Fetch v2): the broker converts both ways (0.4 sends and reads record batches).
    Every message arrives once, intact, in partition order, and is committed."""
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("kafka-go-writer")
    create_topic(b.bootstrap, topic, PARTITIONS)
    result = kafka_go(kind, bootstrap=b.bootstrap, scenario="roundtrip", topic=topic, group=unique_topic("g"),
                      compression=compression, count=MESSAGES)
    assert result["written"] == MESSAGES
    assert result["received"] == MESSAGES
    assert result["partitions_read"] == list(range(PARTITIONS))
    for problem in ("missing", "duplicates", "wrong_content", "out_of_order"):
        assert result[problem] == 0, f"{problem}: {result}"


def describe_group(admin, group):
    return admin.describe_consumer_groups([group])[group].result(timeout=METADATA_TIMEOUT_S)


def test_group_reader_joins_owns_every_partition_and_leaves(broker):
    """The group protocol of kafka-go 0.2.1 (FindCoordinator v0, JoinGroup v1, SyncGroup v0,
    Heartbeat v0): seen from outside with DescribeGroups while the Reader is in
    the group (the topic is empty: it reads nothing)."""
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("kafka-go-join")
    group = unique_topic("g")
    create_topic(b.bootstrap, topic, PARTITIONS)
    admin = AdminClient(quiet_config(b.bootstrap))
    reader = subprocess.Popen(
        [str(binary("kafka-go", DEBIAN)), f"-bootstrap={b.bootstrap}", "-scenario=join", f"-topic={topic}",
         f"-group={group}", f"-run-ms={JOIN_RUN_MS}"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + JOIN_RUN_MS / 1000
        owned = None
        while time.monotonic() < deadline:
            description = describe_group(admin, group)
            if description.state == ConsumerGroupState.STABLE and len(description.members) == 1:
                member = description.members[0]
                owned = sorted((tp.topic, tp.partition) for tp in member.assignment.topic_partitions)
                assert member.client_id == "kafka-go-check"
                break
            time.sleep(POLL_INTERVAL_S)
        assert owned == [(topic, p) for p in range(PARTITIONS)]
        output, _ = reader.communicate(timeout=JOIN_RUN_MS / 1000 + EXIT_GRACE_S)
    finally:
        reader.kill()
    result = json.loads(output.strip().splitlines()[-1])
    assert reader.returncode == 0 and "error" not in result, result
    assert result["rebalances"] == 0
    # kafka-go 0.2.1's Reader.Close dials the coordinator for its LeaveGroup with a context
    # it has just cancelled, so no LeaveGroup is sent: the member leaves when its 6 s session
    # times out.
    deadline = time.monotonic() + SESSION_TIMEOUT_S + EXIT_GRACE_S
    after = describe_group(admin, group)
    while after.members and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        after = describe_group(admin, group)
    # With no committed offsets an empty group is gone (Dead), as in Kafka.
    assert after.state in (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD) and not after.members, (
        f"session expiry emptied the group: {after.state}"
    )
