"""`__consumer_offsets` is Kafka's internal topic (issue 10, the offsets topic's defects; Kafka 4.4
checked beside it with perf/peers/kafka.sh):

- A client's Produce to it is refused per partition with INVALID_TOPIC_EXCEPTION (17), as Kafka's
  ReplicaManager does for internal topics: appended, a forged record would be loaded as a commit.
- Metadata with allow_auto_topic_creation does not make it an ordinary topic: in a cluster it is
  created as the internal topic (offsets.topic.num.partitions, offsets.topic.replication.factor,
  cleanup.policy=compact), as Kafka's AutoTopicCreationManager does; a single node keeps its
  offsets partitions in local files and has no such topic.
- A cluster's group coordinators take the partition count from the topic as created (Kafka's
  `metadataCache.numPartitions(__consumer_offsets)`), not from a config that may differ.
- DeleteTopics of it is accepted, as Kafka 4.4 does: the commits go with it, the topic is
  created again at the next FindCoordinator, and groups keep working. A single node, whose
  offsets partitions are local files, accepts it too and drops every commit.
- A failed write of a single node's offsets file (a real full disk) is cut back: none of the
  refused commit's records is read as a commit, now or after a restart.
"""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaPythonTopicPartition

import kafka_wire
from clients import create_topic, group_consumer, new_producer, produce_all, quiet_config, unique_topic
from test_cluster_consumer_offsets import COORDINATOR_MOVING
from test_cluster_failover_restart_and_join import create_until_done, wait_for_topic
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_storage_faults_real_disk_full import fill, small_disk  # noqa: F401 (fixture)

OFFSETS_TOPIC = "__consumer_offsets"
INVALID_TOPIC_EXCEPTION = 17
UNKNOWN_TOPIC_OR_PARTITION = 3
# Small, so a cluster creates it quickly; unlike the default 50, so a wrong count shows.
OFFSETS_PARTITIONS = 6
OFFSETS_RF = 3
# A client-made offsets topic's count, unlike the config's.
CLIENT_MADE_PARTITIONS = 3
GROUPS = 8
PARTITIONS = 2
ADMIN_TIMEOUT_S = 30
DEADLINE_S = 60.0
# Long enough for a second Metadata round to show what the first one created.
SETTLE_S = 2.0
# librdkafka's own "waiting for coordinator" too: a new coordinator may take a moment to show.
RETRIED_COMMIT_ERRORS = COORDINATOR_MOVING + (KafkaError._WAIT_COORD,)
# The refused commit of the disk-full test: large records (Kafka's 4096-byte metadata limit) over
# many partitions, so the free room holds a few of them but not all.
BIG_COMMIT_PARTITIONS = 48
BIG_METADATA = "m" * 4000
ROOM_BYTES = 24 << 10


def started_cluster(millrace_cluster, extra=()):
    """3 brokers, all registered, with a small offsets partition count."""
    cluster = millrace_cluster(brokers=3, extra=["group.initial.rebalance.delay.ms=0",
                                                 f"offsets.topic.num.partitions={OFFSETS_PARTITIONS}",
                                                 f"offsets.topic.replication.factor={OFFSETS_RF}",
                                                 *extra])
    wait_for_brokers(cluster.node(1).bootstrap, 3)
    return cluster


def new_topic(cluster, prefix):
    """A topic of PARTITIONS partitions, listed by broker 1."""
    topic = unique_topic(prefix)
    create_until_done(cluster.node(1).bootstrap, topic, PARTITIONS, ADMIN_TIMEOUT_S)
    wait_for_topic(cluster.node(1).bootstrap, topic)
    return topic


def java_hash(text):
    """Java's String.hashCode (the group's offsets partition is abs(hash) % partitions)."""
    h = 0
    for unit in text.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group, partitions):
    h = java_hash(group)
    return 0 if h == -(1 << 31) else abs(h) % partitions


def produce_codes(bootstrap, topic, partitions):
    """Per-partition error codes of one Produce v3 request of one record to each partition."""
    batch = kafka_wire.encode_record_batch([(b"k", b"forged")], int(time.time() * 1000))
    with kafka_wire.connect(bootstrap) as sock:
        answer = kafka_wire.produce_v3(sock, 1, topic, {p: batch for p in range(partitions)})
    return {p: code for p, (code, _) in answer.items()}


def confluent_produce_errors(bootstrap, topic):
    producer = new_producer(bootstrap, acks="all", retries=0, **{"enable.idempotence": False})
    log = produce_all(producer, topic, [(b"k", b"forged")], partition=0)
    return [err.code() for err, _, _ in log.errors], log.delivered


def commit(bootstrap, group, topic, offsets):
    """Commits `offsets` ({partition: offset}), retried while the coordinator is not ready."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        consumer = group_consumer(bootstrap, group)
        try:
            consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                            asynchronous=False)
            return
        except KafkaException as error:
            code = error.args[0].code()
            if code not in RETRIED_COMMIT_ERRORS and not error.args[0].retriable():
                raise
            if time.monotonic() > deadline:
                pytest.fail(f"{group}: commit not done within {DEADLINE_S}s: {error}")
        finally:
            consumer.close()
        time.sleep(0.2)


def committed_with_kafka_python(bootstrap, group, topic, partitions=PARTITIONS):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             request_timeout_ms=20000)
    try:
        return {p: consumer.committed(KafkaPythonTopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close()


def offsets_topic(admin):
    """(partition count, replica counts, is_internal) of __consumer_offsets, or None."""
    try:
        described = admin.describe_topics(TopicCollection([OFFSETS_TOPIC]), request_timeout=10)
        topic = described[OFFSETS_TOPIC].result(timeout=15)
    except KafkaException:
        return None
    return len(topic.partitions), {len(p.replicas) for p in topic.partitions}, topic.is_internal


def cleanup_policy(admin):
    resource = ConfigResource(ConfigResource.Type.TOPIC, OFFSETS_TOPIC)
    configs = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=15)
    return configs["cleanup.policy"].value


def wait_for_offsets_topic(admin, partitions):
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    seen = None
    while time.monotonic() < deadline:
        seen = offsets_topic(admin)
        if seen is not None and seen[0] == partitions:
            return seen
        time.sleep(0.2)
    pytest.fail(f"{OFFSETS_TOPIC}: {seen}, expected {partitions} partitions")


# ---------------------------------------------------------------- a single node


def test_metadata_auto_creation_makes_no_ordinary_offsets_topic_on_a_single_node(broker):
    b = broker(**{"auto.create.topics.enable": "true"})
    with kafka_wire.connect(b.bootstrap) as sock:
        first = kafka_wire.metadata_v4_partitions(sock, 1, OFFSETS_TOPIC)
        time.sleep(SETTLE_S)
        second = kafka_wire.metadata_v4_partitions(sock, 2, OFFSETS_TOPIC)
    # The offsets partitions are local files here: no topic of that name is made.
    assert (first, second) == ((UNKNOWN_TOPIC_OR_PARTITION, 0),) * 2, (first, second)
    admin = AdminClient(quiet_config(b.bootstrap))
    assert OFFSETS_TOPIC not in admin.list_topics(timeout=10).topics
    # Groups work as before.
    topic = unique_topic("oi-single")
    create_topic(b.bootstrap, topic, PARTITIONS)
    commit(b.bootstrap, "oi-single-group", topic, {0: 5, 1: 7})
    assert committed_with_kafka_python(b.bootstrap, "oi-single-group", topic) == {0: 5, 1: 7}


def test_produce_to_the_offsets_topic_is_refused_per_partition_on_a_single_node(broker):
    """An offsets topic a client (or an older broker's auto-creation) made: still internal."""
    b = broker()
    create_topic(b.bootstrap, OFFSETS_TOPIC, 2)
    codes = produce_codes(b.bootstrap, OFFSETS_TOPIC, 2)
    assert codes == {0: INVALID_TOPIC_EXCEPTION, 1: INVALID_TOPIC_EXCEPTION}, codes
    errors, delivered = confluent_produce_errors(b.bootstrap, OFFSETS_TOPIC)
    assert errors == [KafkaError.TOPIC_EXCEPTION] and not delivered, (errors, delivered)
    # Metadata names it internal, as Kafka does.
    admin = AdminClient(quiet_config(b.bootstrap))
    assert offsets_topic(admin) == (2, {1}, True)


def test_a_failed_offsets_write_is_cut_back_on_a_full_disk(small_disk, broker):  # noqa: F811
    b = broker(data_dir=small_disk)
    topic = unique_topic("oi-full")
    create_topic(b.bootstrap, topic, BIG_COMMIT_PARTITIONS)
    group = "oi-full-group"
    before = {p: 1 for p in range(BIG_COMMIT_PARTITIONS)}
    commit(b.bootstrap, group, topic, before)
    # A little room left on an otherwise full disk: a few of the big commit's records fit.
    room = small_disk / "room"
    room.write_bytes(b"\0" * ROOM_BYTES)
    assert fill(small_disk / "filler") > 0
    room.unlink()
    consumer = group_consumer(b.bootstrap, group)
    big = [TopicPartition(topic, p, 100 + p, metadata=BIG_METADATA) for p in range(BIG_COMMIT_PARTITIONS)]
    with pytest.raises(KafkaException):
        consumer.commit(offsets=big, asynchronous=False)
    consumer.close()
    found = committed_with_kafka_python(b.bootstrap, group, topic, BIG_COMMIT_PARTITIONS)
    assert found == before, f"while full: {found}"
    (small_disk / "filler").unlink()
    b.stop()
    b.start()
    found = committed_with_kafka_python(b.bootstrap, group, topic, BIG_COMMIT_PARTITIONS)
    refused_shown = {p: o for p, o in found.items() if o != before[p]}
    assert not refused_shown, f"records of the refused commit read back after a restart: {refused_shown}"


def test_delete_offsets_topic_on_a_single_node_drops_every_commit(broker):
    """A single node keeps its offsets partitions in local files, yet DeleteTopics of the offsets
    topic is accepted, as Kafka 4.4 does once its group coordinator made the topic: every commit
    of every group goes, durably (none after a restart), and groups commit again after.
    (Kafka 4.4, one KRaft node by perf/peers/kafka.sh, 2026-12-03: UNKNOWN_TOPIC_OR_PARTITION
    before any group made the topic; after a commit NONE, the commit read back as none, a new
    commit read back. millrace's single node always has its offsets partitions: it accepts.)"""
    b = broker(**{"num.shards": 2})
    topic = unique_topic("oi-del-single")
    create_topic(b.bootstrap, topic, PARTITIONS)
    # Enough groups that both shards' offsets partitions hold commits.
    groups = [unique_topic("oi-del-single-group") for _ in range(GROUPS)]
    for index, group in enumerate(groups):
        commit(b.bootstrap, group, topic, {0: index + 1, 1: index + 2})
    assert committed_with_kafka_python(b.bootstrap, groups[-1], topic) == {0: GROUPS, 1: GROUPS + 1}
    admin = AdminClient(quiet_config(b.bootstrap))
    deleted = admin.delete_topics([OFFSETS_TOPIC], request_timeout=ADMIN_TIMEOUT_S)[OFFSETS_TOPIC]
    deleted.result(timeout=ADMIN_TIMEOUT_S)
    none = {0: None, 1: None}
    assert {g: committed_with_kafka_python(b.bootstrap, g, topic) for g in groups} == {g: none for g in groups}
    listed = admin.list_consumer_groups(request_timeout=ADMIN_TIMEOUT_S).result(timeout=ADMIN_TIMEOUT_S)
    assert not {g.group_id for g in listed.valid} & set(groups), listed.valid
    b.stop()
    b.start()
    assert {g: committed_with_kafka_python(b.bootstrap, g, topic) for g in groups} == {g: none for g in groups}
    commit(b.bootstrap, groups[0], topic, {0: 7, 1: 8})
    assert committed_with_kafka_python(b.bootstrap, groups[0], topic) == {0: 7, 1: 8}


# ---------------------------------------------------------------- a 3-broker cluster


def test_produce_to_the_offsets_topic_is_refused_in_a_cluster(millrace_cluster):
    cluster = started_cluster(millrace_cluster)
    topic = new_topic(cluster, "oi-prod")
    group = unique_topic("oi-prod-group")
    commit(cluster.node(1).bootstrap, group, topic, {0: 3, 1: 4})
    for node in (1, 2, 3):
        codes = produce_codes(cluster.node(node).bootstrap, OFFSETS_TOPIC, OFFSETS_PARTITIONS)
        assert set(codes.values()) == {INVALID_TOPIC_EXCEPTION}, f"through broker {node}: {codes}"
    errors, delivered = confluent_produce_errors(cluster.bootstrap, OFFSETS_TOPIC)
    assert errors == [KafkaError.TOPIC_EXCEPTION] and not delivered, (errors, delivered)
    assert committed_with_kafka_python(cluster.node(2).bootstrap, group, topic) == {0: 3, 1: 4}


def test_metadata_auto_creation_makes_the_internal_offsets_topic_in_a_cluster(millrace_cluster):
    cluster = started_cluster(millrace_cluster, ["auto.create.topics.enable=true"])
    with kafka_wire.connect(cluster.node(2).bootstrap) as sock:
        kafka_wire.metadata_v4_partitions(sock, 1, OFFSETS_TOPIC)
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    partitions, replicas, internal = wait_for_offsets_topic(admin, OFFSETS_PARTITIONS)
    assert (replicas, internal) == ({OFFSETS_RF}, True), (replicas, internal)
    assert cleanup_policy(admin) == "compact"
    topic = new_topic(cluster, "oi-auto")
    group = unique_topic("oi-auto-group")
    commit(cluster.node(3).bootstrap, group, topic, {0: 8, 1: 9})
    assert committed_with_kafka_python(cluster.node(1).bootstrap, group, topic) == {0: 8, 1: 9}


def test_coordinators_follow_the_partition_count_of_the_topic_as_created(millrace_cluster):
    """A client made the topic with 3 partitions while the brokers' config says 6: every group
    is coordinated by the leader of its partition among 3, and its commits read back."""
    cluster = started_cluster(millrace_cluster)
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    made = admin.create_topics([NewTopic(OFFSETS_TOPIC, CLIENT_MADE_PARTITIONS, OFFSETS_RF)],
                               request_timeout=ADMIN_TIMEOUT_S)[OFFSETS_TOPIC]
    made.result(timeout=ADMIN_TIMEOUT_S)
    wait_for_offsets_topic(admin, CLIENT_MADE_PARTITIONS)
    topic = new_topic(cluster, "oi-count")
    groups = [unique_topic(f"oi-count-g{i}") for i in range(GROUPS)]
    # Some groups map to partitions past 3 under the config's count: those are the ones that break.
    assert any(offsets_partition(g, OFFSETS_PARTITIONS) >= CLIENT_MADE_PARTITIONS for g in groups)
    leaders = {p.id: p.leader for p in admin.list_topics(OFFSETS_TOPIC, timeout=10)
               .topics[OFFSETS_TOPIC].partitions.values()}
    for index, group in enumerate(groups):
        commit(cluster.node(1 + index % 3).bootstrap, group, topic, {0: index, 1: 10 + index})
        described = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
        assert described.coordinator.id == leaders[offsets_partition(group, CLIENT_MADE_PARTITIONS)]
        assert committed_with_kafka_python(cluster.node(2).bootstrap, group, topic) == {0: index, 1: 10 + index}


def test_delete_offsets_topic_is_accepted_and_groups_work_after(millrace_cluster):
    """Kafka 4.4 accepts it (perf/peers/kafka.sh, 2026-12-03): the commits are gone, the topic is
    made again at the next FindCoordinator, and groups commit and read back as before."""
    cluster = started_cluster(millrace_cluster)
    topic = new_topic(cluster, "oi-del")
    old_group = unique_topic("oi-del-old")
    commit(cluster.node(1).bootstrap, old_group, topic, {0: 5, 1: 6})
    admin = AdminClient(quiet_config(cluster.node(1).bootstrap))
    deleted = admin.delete_topics([OFFSETS_TOPIC], request_timeout=ADMIN_TIMEOUT_S)[OFFSETS_TOPIC]
    deleted.result(timeout=ADMIN_TIMEOUT_S)
    new_group = unique_topic("oi-del-new")
    commit(cluster.node(2).bootstrap, new_group, topic, {0: 1, 1: 2})
    assert committed_with_kafka_python(cluster.node(3).bootstrap, new_group, topic) == {0: 1, 1: 2}
    wait_for_offsets_topic(admin, OFFSETS_PARTITIONS)
    # As with Kafka, the commits made before the deletion went with the topic.
    assert committed_with_kafka_python(cluster.node(3).bootstrap, old_group, topic) == {0: None, 1: None}
    # A consuming member of the old group starts over and commits again.
    commit(cluster.node(1).bootstrap, old_group, topic, {0: 7, 1: 8})
    assert committed_with_kafka_python(cluster.node(2).bootstrap, old_group, topic) == {0: 7, 1: 8}


# ---------------------------------------------------------------- the oracle


def test_apache_kafka_refuses_produce_to_the_offsets_topic_alike(apache_kafka):
    """Kafka 4.4 answers as the tests above expect: its group coordinator made the topic, a
    client's Produce to it gets 17 per partition, and Metadata names it internal. (Its
    DeleteTopics was checked by hand, not here: the peer is shared by the whole run.)"""
    bootstrap = apache_kafka.bootstrap
    topic = unique_topic("oi-kafka")
    create_topic(bootstrap, topic, PARTITIONS)
    commit(bootstrap, unique_topic("oi-kafka-group"), topic, {0: 1, 1: 1})
    codes = produce_codes(bootstrap, OFFSETS_TOPIC, 2)
    assert codes == {0: INVALID_TOPIC_EXCEPTION, 1: INVALID_TOPIC_EXCEPTION}, codes
    admin = AdminClient(quiet_config(bootstrap))
    described = admin.describe_topics(TopicCollection([OFFSETS_TOPIC]), request_timeout=10)
    assert described[OFFSETS_TOPIC].result(timeout=15).is_internal
