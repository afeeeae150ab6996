"""Issue 13 (KIP-903): a follower whose log was lost joins the ISR again only once it holds what
the ISR must hold.

A follower of an RF=3 partition is killed -9 and leaves the ISR (the controller fences it after
its session). Its partition directory is then lost (a replaced disk, a wiped volume), and it
restarts. Its new process fetches from offset 0. The leader must not count what the previous
process had fsynced: a follower let back into the ISR with an empty log could be elected and
lose every acknowledged record. Kafka's leader tells the processes apart by the broker epoch in
the fetch (Fetch v15 ReplicaState.ReplicaEpoch) and sends each member's epoch in AlterPartition,
so the controller refuses a member restarted since.

The leader's answers to that follower are slowed on the client listener (a proxy, 64 KiB per
ANSWER_CHUNK_DELAY_S), so catching up takes many fetches; controller links stay open, so the
follower registers and is unfenced at once. The first time Metadata lists it in the ISR, its
segment files must already hold every acknowledged record.
"""

import time
from pathlib import Path
import shutil

from confluent_kafka.admin import AdminClient, NewTopic

from clients import new_producer, produce_all, unique_topic
from cluster_fixture import FAST_SESSIONS
from jepsen import checker, workload
from jepsen.proxy import ProxyNet

RECORDS = 3000
RECORD_BYTES = 1024
# ~320 KiB/s for the leader's answers to the restarted follower: ~10 s to fetch the 3 MB back.
ANSWER_CHUNK_DELAY_S = 0.2
TOPIC_READY_TIMEOUT_S = 30.0
# The controller fences the killed follower after its 4.5 s session; a loaded box adds more.
SHRINK_TIMEOUT_S = 30.0
# The slowed catch-up (~10 s), then an AlterPartition, then Metadata polled.
REJOIN_TIMEOUT_S = 90.0
ISR_POLL_INTERVAL_S = 0.1


def create_topic_led_by(cluster, topic, leader):
    replicas = [leader, *(b for b in sorted(cluster.nodes) if b != leader)]
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    spec = NewTopic(topic, num_partitions=1, replica_assignment=[replicas])
    admin.create_topics([spec])[topic].result(timeout=TOPIC_READY_TIMEOUT_S)
    workload.wait_for(
        lambda: (state := workload.partition_states(cluster.bootstrap, topic).get(0))
        and state[0] == leader and len(state[2]) == 3,
        f"{leader} leading {topic}-0 with 3 in-sync replicas", TOPIC_READY_TIMEOUT_S)
    return replicas


def isr_asked_of(node, topic):
    state = workload.partition_states(node.bootstrap, topic).get(0)
    return state[2] if state else []


def contiguous_end(partition_dir):
    """The offset the batches in `partition_dir` reach from 0 without a gap (0 if none)."""
    reached = 0
    for base, last, _ in checker.partition_batches(partition_dir):
        if base > reached:
            break
        reached = max(reached, last + 1)
    return reached


def test_a_follower_with_a_lost_log_rejoins_the_isr_only_once_caught_up(millrace_cluster):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(brokers=3, extra=FAST_SESSIONS, proxies=proxies)
        workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
        topic = unique_topic("lost-log-rejoin")
        leader, follower, _ = create_topic_led_by(cluster, topic, leader=1)
        producer = new_producer(cluster.bootstrap, acks="all", **{"linger.ms": 5})
        value = b"v" * RECORD_BYTES
        delivered = produce_all(producer, topic, [(None, value)] * RECORDS, partition=0)
        assert not delivered.errors, delivered.errors[:3]

        cluster.kill(follower)
        others = sorted(b for b in cluster.nodes if b != follower)
        workload.wait_for(lambda: sorted(isr_asked_of(cluster.node(leader), topic)) == others,
                          f"{follower} out of the ISR of {topic}-0", SHRINK_TIMEOUT_S)
        partition_dir = Path(cluster.node(follower).data_dir) / f"{topic}-0"
        shutil.rmtree(partition_dir)

        proxies.delay_replication(leader, follower, ANSWER_CHUNK_DELAY_S)
        restarted_at = time.monotonic()
        cluster.restart(follower)
        workload.wait_for(lambda: follower in isr_asked_of(cluster.node(leader), topic),
                          f"{follower} back in the ISR of {topic}-0", REJOIN_TIMEOUT_S,
                          interval_s=ISR_POLL_INTERVAL_S)
        held = contiguous_end(partition_dir)
        print(f"follower {follower} back in the ISR {time.monotonic() - restarted_at:.1f}s "
              f"after its restart, holding offsets [0, {held}) of {RECORDS}")
        assert held >= RECORDS, (
            f"broker {follower} was let back into the ISR holding {held} of the {RECORDS} "
            f"acknowledged records: elected now, it would lose the rest")
    finally:
        proxies.close()
