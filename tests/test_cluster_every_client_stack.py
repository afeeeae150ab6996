"""Issue 12: every client stack of the single-node tests against one 3-broker cluster
(`millrace serve FILE` x 3, num.shards=1 each): kcat (-L lists the three brokers; produce and
consume partition by partition, each led by another broker), the Java client (kafka-topics'
AdminClient creates and describes a topic through one broker; the console producer and a
console consumer group go round through every partition's leader; kafka-consumer-groups
reads the group's commits through its coordinator), kafkajs (admin createTopics and metadata,
a producer and a consumer group) and franz-go (kgo producer with its read-back, a kgo consumer
group). The Java AdminClient (describeCluster, through kafka-cluster list-endpoints and
cluster-id), kafkajs (admin.describeCluster) and franz-go (kadm BrokerMetadata) each list the
three brokers by node id and advertised host:port, with one cluster id, whichever broker they
bootstrap from. One cluster serves the whole module; each test bootstraps from a different
broker."""

import json
import shutil
import subprocess

import pytest

from clients import create_topic, unique_topic
from cluster_fixture import Cluster
from conftest import HOST
from goclients.harness import franz
from java_clients import tool_ok
from kafkajs_node import admin as kafkajs_admin
from kafkajs_node import run_script
from test_cluster_three_brokers_serve_clients import wait_for_brokers, wait_for_topics

pytestmark = pytest.mark.timeout(300)
BROKERS = 3
# One partition per broker: CreateTopics spreads leaders, so each broker leads one.
PARTITIONS = 3
GROUP_EXTRA = ("group.initial.rebalance.delay.ms=0",)
KCAT_TIMEOUT_S = 60
TOPIC_TOOL = "org.apache.kafka.tools.TopicCommand"
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
GROUP_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
GET_OFFSETS = "org.apache.kafka.tools.GetOffsetShell"
# kafka-cluster: list-endpoints prints AdminClient.describeCluster().nodes() as a table.
CLUSTER_TOOL = "org.apache.kafka.tools.ClusterTool"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three nodes, all listed in every broker's Metadata before the first test."""
    nodes = []
    started = Cluster(tmp_path_factory.mktemp("every-client"), BROKERS, extra=GROUP_EXTRA,
                      registry=nodes)
    try:
        started.start()
        for node_id in started.nodes:
            wait_for_brokers(started.node(node_id).bootstrap, BROKERS)
        yield started
    except BaseException:
        for node in nodes:
            print(f"--- node {node.node_id} stderr ---\n{node.stderr_tail()}")
        raise
    finally:
        started.kill_all()


def leaders_by_partition(bootstrap, topic):
    """{partition: leader} once `bootstrap` lists the topic."""
    partitions = wait_for_topics(bootstrap, [topic])[topic].partitions
    return {p.id: p.leader for p in partitions.values()}


def assert_spread(cluster, topic):
    """Every broker sees the same leaders, one partition led by each broker."""
    seen = {i: leaders_by_partition(cluster.node(i).bootstrap, topic) for i in cluster.nodes}
    assert all(leaders == seen[1] for leaders in seen.values()), seen
    assert sorted(seen[1].values()) == [1, 2, 3], seen
    return seen[1]


def kcat(*args, stdin=None):
    done = subprocess.run(["kcat", *args], input=stdin, capture_output=True,
                          timeout=KCAT_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"kcat {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-3000:]}"
    return done.stdout


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (tests/run.sh installs it)")
def test_kcat_lists_the_cluster_and_round_trips_through_each_leader(cluster):
    bootstrap = cluster.node(1).bootstrap
    topic = unique_topic("cluster-kcat")
    create_topic(bootstrap, topic, PARTITIONS)
    leaders = assert_spread(cluster, topic)

    metadata = json.loads(kcat("-b", cluster.node(3).bootstrap, "-L", "-J", "-t", topic))
    brokers = {b["id"]: b["name"] for b in metadata["brokers"]}
    assert brokers == {i: cluster.node(i).bootstrap for i in (1, 2, 3)}, metadata["brokers"]
    (described,) = metadata["topics"]
    assert {p["partition"]: p["leader"] for p in described["partitions"]} == leaders, described

    for partition in range(PARTITIONS):
        lines = "".join(f"k{partition}-{i}:v{partition}-{i}\n" for i in range(50))
        kcat("-b", bootstrap, "-P", "-t", topic, "-p", str(partition), "-K", ":", stdin=lines.encode())
    for partition in range(PARTITIONS):
        out = kcat("-b", cluster.node(2).bootstrap, "-C", "-t", topic, "-p", str(partition),
                   "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\n").decode()
        assert out.splitlines() == [f"k{partition}-{i}=v{partition}-{i}@{i}" for i in range(50)], (partition, out[:500])


def test_java_admin_producer_and_consumer_group_through_each_leader(cluster):
    bootstrap = cluster.node(2).bootstrap
    topic = unique_topic("cluster-java")
    group = unique_topic("cluster-java-group")
    created = tool_ok(TOPIC_TOOL, "--bootstrap-server", bootstrap, "--create", "--topic", topic,
                      "--partitions", str(PARTITIONS), "--replication-factor", "1")
    assert created.strip() == f"Created topic {topic}."
    leaders = assert_spread(cluster, topic)

    # kafka-topics --describe (AdminClient describeTopics) through another broker.
    described = tool_ok(TOPIC_TOOL, "--bootstrap-server", cluster.node(3).bootstrap, "--describe",
                        "--topic", topic).splitlines()
    assert f"PartitionCount: {PARTITIONS}" in described[0], described
    rows = {}
    for line in described[1:]:
        fields = dict(f.strip().split(": ", 1) for f in line.strip().split("\t"))
        rows[int(fields["Partition"])] = (int(fields["Leader"]), fields["Replicas"], fields["Isr"])
    assert rows == {p: (leader, str(leader), str(leader)) for p, leader in leaders.items()}, described

    # Keyed records: the default partitioner sends them to every partition.
    count = 60
    lines = [f"key-{i}:value {i}" for i in range(count)]
    tool_ok(CONSOLE_PRODUCER, "--bootstrap-server", bootstrap, "--topic", topic,
            "--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
            "--command-property", "acks=all", input="\n".join(lines) + "\n")
    ends = {}
    for line in tool_ok(GET_OFFSETS, "--bootstrap-server", bootstrap, "--topic", topic).splitlines():
        _, partition, offset = line.rsplit(":", 2)
        ends[int(partition)] = int(offset)
    assert sorted(ends) == list(range(PARTITIONS)) and all(ends.values()), ends
    assert sum(ends.values()) == count, ends

    consumed = tool_ok(CONSOLE_CONSUMER, "--bootstrap-server", cluster.node(1).bootstrap,
                       "--topic", topic, "--from-beginning", "--max-messages", str(count),
                       "--group", group, "--formatter-property", "print.key=true",
                       "--formatter-property", "key.separator=:")
    assert sorted(consumed.splitlines()) == sorted(lines)

    # The group's commits, read through its coordinator (another broker may be asked first).
    table = [line.split() for line in tool_ok(GROUP_TOOL, "--bootstrap-server", cluster.node(3).bootstrap,
                                              "--describe", "--group", group).splitlines() if line.strip()]
    assert table[0][:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"], table
    committed = {int(row[2]): (int(row[3]), int(row[4]), int(row[5])) for row in table[1:]}
    assert committed == {p: (end, end, 0) for p, end in ends.items()}, table


def test_kafkajs_admin_producer_and_consumer_group_through_each_leader(cluster):
    bootstrap = cluster.node(3).bootstrap
    topic = unique_topic("cluster-kafkajs")
    created = kafkajs_admin(bootstrap, "createTopics",
                            topics=[{"topic": topic, "numPartitions": PARTITIONS}], waitForLeaders=True)
    assert created is True
    leaders = assert_spread(cluster, topic)
    metadata = kafkajs_admin(cluster.node(1).bootstrap, "fetchTopicMetadata", topics=[topic])
    (found,) = metadata["topics"]
    assert {p["partitionId"]: p["leader"] for p in found["partitions"]} == leaders, found

    count = 90
    sent = run_script("produce.js", bootstrap, topic, options={"count": count, "spread": PARTITIONS})
    acks = [ack for send in sent["sends"] for ack in send["acks"]]
    assert sorted({a["partition"] for a in acks}) == list(range(PARTITIONS)), acks
    assert all(a["errorCode"] == 0 for a in acks), acks

    got = run_script("consume.js", cluster.node(2).bootstrap, topic,
                     options={"groupId": unique_topic("cluster-kafkajs-group"), "expected": count})
    records = got["records"]
    assert sorted(r["value"] for r in records) == sorted(f"m-{i}" for i in range(count))
    for partition in range(PARTITIONS):
        offsets = [r["offset"] for r in records if r["partition"] == partition]
        assert [int(o) for o in offsets] == list(range(count // PARTITIONS)), (partition, offsets)


def test_franz_go_producer_and_consumer_group_through_each_leader(cluster):
    bootstrap = cluster.node(1).bootstrap
    topic = unique_topic("cluster-franz")
    create_topic(bootstrap, topic, PARTITIONS)
    assert_spread(cluster, topic)
    produced = franz(bootstrap=cluster.node(2).bootstrap, scenario="produce", topic=topic,
                     partitions=PARTITIONS, count=300)
    delivery = produced["delivery"]
    assert (delivery["expected"], delivery["received"]) == (300, 300), delivery
    for problem in ("missing", "duplicates", "unexpected", "wrong", "out_of_order"):
        assert delivery[problem] == 0, f"{problem}: {delivery['problems']}"
    assert produced["high_watermarks"] == {str(p): 300 // PARTITIONS for p in range(PARTITIONS)}

    group_topic = unique_topic("cluster-franz-group")
    create_topic(bootstrap, group_topic, PARTITIONS * 2)
    leaders = wait_for_topics(bootstrap, [group_topic])[group_topic].partitions
    assert sorted({p.leader for p in leaders.values()}) == [1, 2, 3]
    result = franz(bootstrap=cluster.node(3).bootstrap, scenario="group", topic=group_topic,
                   group=unique_topic("g"), partitions=PARTITIONS * 2, count=120)
    delivery = result["delivery"]
    assert (delivery["expected"], delivery["received"]) == (360, 360), delivery
    for problem in ("missing", "duplicates", "unexpected", "wrong", "out_of_order"):
        assert delivery[problem] == 0, f"{problem}: {delivery['problems']}"


def java_describe_cluster(bootstrap):
    """(cluster id, {node id: (host, port, state, endpoint type)}) from kafka-cluster cluster-id
    and list-endpoints: the Java AdminClient's describeCluster()."""
    cluster_id = tool_ok(CLUSTER_TOOL, "cluster-id", "--bootstrap-server", bootstrap).strip()
    assert cluster_id.startswith("Cluster ID: "), cluster_id
    lines = [line.split() for line in tool_ok(CLUSTER_TOOL, "list-endpoints", "--bootstrap-server",
                                              bootstrap).splitlines() if line.strip()]
    assert lines[0] == ["ID", "HOST", "PORT", "RACK", "STATE", "ENDPOINT_TYPE"], lines
    nodes = {int(row[0]): (row[1], int(row[2]), row[4], row[5]) for row in lines[1:]}
    assert len(nodes) == len(lines) - 1, f"a node id listed twice: {lines}"
    return cluster_id.removeprefix("Cluster ID: "), nodes


def test_java_kafkajs_and_franz_go_list_every_broker_with_its_address(cluster):
    """Each client's own cluster description (not Metadata's side effects on produce and
    consume): every broker, by node id and advertised host:port, asked through each broker in
    turn; one cluster id among all three clients."""
    advertised = {i: (HOST, cluster.node(i).port) for i in cluster.nodes}
    assert len(advertised) == BROKERS
    cluster_ids = set()
    for node_id in cluster.nodes:
        bootstrap = cluster.node(node_id).bootstrap

        cluster_id, nodes = java_describe_cluster(bootstrap)
        assert nodes == {i: (*address, "unfenced", "broker") for i, address in advertised.items()}, (
            node_id, nodes)
        cluster_ids.add(cluster_id)

        described = kafkajs_admin(bootstrap, "describeCluster")
        brokers = {b["nodeId"]: (b["host"], b["port"]) for b in described["brokers"]}
        assert len(brokers) == len(described["brokers"]) and brokers == advertised, (
            node_id, described)
        assert described["controller"] in advertised, described
        cluster_ids.add(described["clusterId"])

        listed = franz(bootstrap=bootstrap, scenario="brokers")["cluster"]
        brokers = {b["node_id"]: (b["host"], b["port"]) for b in listed["brokers"]}
        assert len(brokers) == len(listed["brokers"]) and brokers == advertised, (node_id, listed)
        assert listed["controller"] in advertised, listed
        cluster_ids.add(listed["cluster_id"])
    assert len(cluster_ids) == 1 and all(cluster_ids), cluster_ids
