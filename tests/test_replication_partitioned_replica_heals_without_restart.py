"""Issue 13's single-fault check "a replica that was partitioned away rejoins and truncates",
with the partition healed as a real network heals: no process is restarted.

Three `millrace serve` nodes (all controller voters, num.shards=1), every broker-to-broker link
on both planes (the client listener, where followers fetch, and the CONTROLLER listener: Raft,
registration, heartbeats) through a tests/jepsen/proxy.py proxy; an RF=3 topic with
min.insync.replicas=2; clients reach every broker directly. What Apache Kafka does, asserted:
- the partition leader isolated from both other brokers keeps serving clients that reach it:
  acks=1 records may land on it alone, but an acks=all produce is never acknowledged (its
  followers fetch nothing); the controller fences it after its session and elects a new leader,
  which acknowledges more acks=all records. Healed, the old leader learns the new leader epoch
  from the metadata log, becomes a follower, truncates the records only it holds and catches
  up: it is back in the ISR within a bound, every acknowledged record is read back at its
  offset, the replicas hold the same bytes up to the high watermark, and neither the final read
  nor the old leader's segment files hold a record written to it while it was cut off;
- cut off one way only (what it sends still reaches the others), the old leader is fenced all
  the same (its heartbeats never arrive) and, healed, catches up the same way. Here a new
  idempotent producer whose InitProducerId went to the cut-off broker got no record
  acknowledged while that broker waited on the controller for a block of producer ids (see
  test_cluster_init_producer_id_answers_soon_when_the_controller_is_unreachable.py);
- a follower isolated the same way, or whose fetches reach the leader but not the answers,
  leaves the ISR (replica.lag.time.max.ms) while acks=all load goes on with the two others;
  healed, it rejoins the ISR and holds the leader's bytes.

The default suite runs 3 of the 6 leader cases; MILLRACE_TEST_JEPSEN_EXTENDED=1 runs all.
"""

import os
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from jepsen import checker, run, workload
from jepsen import history as h
from jepsen.checker import expect
from jepsen.proxy import ProxyNet

import kafka_wire
from test_cluster_three_brokers_serve_clients import describe_quorum_v0
from test_jepsen_single_faults_rf3 import (
    LOAD_RATE_PER_S, LOAD_S, TOPIC, check_history_and_replicas, new_leader, one_batch)

LAG_MS = 3000
ISOLATED = "isolated"
ONE_WAY_OUT = "one-way-out"
# The follower's fetches (and every other request of its node to the leader's) reach the leader;
# the answers do not.
ONE_WAY_ANSWERS = "one-way-answers-lost"
# A healed replica is back in the ISR within this: the proxy's held connections reset or
# delivered, the broker's next heartbeat and metadata catch-up, a fetch or two to truncate and
# catch up, the leader's AlterPartition committed, and Metadata polled (a loaded 2-vCPU box).
REJOIN_TIMEOUT_S = 40.0
# The leader fences nothing faster than the lag plus a check; the controller's session is 9 s.
SHRINK_TIMEOUT_S = 30.0
# Records per batch written to the cut-off leader; a few batches leave its log shorter than the
# new leader's by the heal, many leave it longer (truncated to the divergence, not to the end).
ZOMBIE_BATCH_RECORDS = 10
ZOMBIE_BATCHES_FEW = 1
ZOMBIE_BATCHES_MANY = 60
ZOMBIE_PREFIX = "zombie"
# An acks=all produce to the cut-off leader waits at most this for followers it cannot reach.
ZOMBIE_ACKS_ALL_TIMEOUT_MS = 5000


def produce_for(name, bootstrap, history, seconds):
    """An acks=all idempotent producer recording into `history` for `seconds`."""
    producer = workload.Producer(name, bootstrap, TOPIC, 1, history, LOAD_RATE_PER_S)
    producer.start()
    try:
        time.sleep(seconds)
    finally:
        producer.stop()
        producer.join(workload.FLUSH_TIMEOUT_S + 10)
    expect(producer.failure is None, f"producer {name} failed: {producer.failure!r}")
    return producer


def state_seen_by(node, partition=0):
    """(leader, replicas, isr) of the partition as `node` itself answers Metadata, or None."""
    return workload.partition_states(node.bootstrap, TOPIC).get(partition)


def wait_in_isr(cluster, asked, replica, timeout_s=REJOIN_TIMEOUT_S):
    """Seconds until Metadata asked of `asked` lists `replica` in the ISR."""
    started = time.monotonic()
    workload.wait_for(lambda: (state := state_seen_by(cluster.node(asked))) and replica in state[2],
                      f"broker {replica} back in the ISR of {TOPIC}-0 (asked of {asked})",
                      timeout_s)
    return time.monotonic() - started


def acked_values(history_path):
    return {e["value"] for e in h.load(history_path) if e["type"] == h.SEND and e["status"] == h.OK}


def cut_off(proxies, fault, broker, brokers):
    """ISOLATED: both flows between `broker` and every other broker held, connections reset.
    ONE_WAY_OUT: only what `broker` sends to the others is held (its answers to their fetches
    and Raft requests, its own heartbeats and requests), delivered late when healed."""
    if fault == ISOLATED:
        proxies.isolate(broker, sorted(brokers))
        return
    for other in sorted(brokers):
        if other != broker:
            proxies.one_way(broker, other)


def create_topic_led_by(cluster, leader):
    """The RF=3 topic (min.insync.replicas=2) with `leader` its preferred, hence first, leader."""
    replicas = [leader, *(b for b in sorted(cluster.nodes) if b != leader)]
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    spec = NewTopic(TOPIC, num_partitions=1, replica_assignment=[replicas],
                    config={"min.insync.replicas": str(run.MIN_INSYNC_REPLICAS)})
    admin.create_topics([spec])[TOPIC].result(timeout=run.TOPIC_READY_TIMEOUT_S)
    workload.wait_for(lambda: workload.leaders(cluster.bootstrap, TOPIC).get(0) == leader,
                      f"{leader} leading {TOPIC}-0", run.TOPIC_READY_TIMEOUT_S)


def log_holds(cluster, broker, text):
    """Whether any batch in `broker`'s segment files of TOPIC-0 holds `text` (uncompressed)."""
    partition_dir = Path(cluster.node(broker).data_dir) / f"{TOPIC}-0"
    return any(text.encode() in raw for _, _, raw in checker.partition_batches(partition_dir))


# The fault runs' extended mode also runs the leader cases marked `extended` (the default suite
# keeps one of each fault, both roles of the controller's Raft leader, both zombie tail sizes).
EXTENDED = os.environ.get("MILLRACE_TEST_JEPSEN_EXTENDED") == "1"
extended = pytest.mark.skipif(not EXTENDED, reason="MILLRACE_TEST_JEPSEN_EXTENDED=1 runs it")
# (fault, the partition leader also the controller's Raft leader, zombie batches).
LEADER_CASES = [
    pytest.param(ISOLATED, True, ZOMBIE_BATCHES_FEW, id="isolated-controller-leader-shorter",
                 marks=extended),
    pytest.param(ISOLATED, True, ZOMBIE_BATCHES_MANY, id="isolated-controller-leader-longer"),
    pytest.param(ISOLATED, False, ZOMBIE_BATCHES_FEW, id="isolated-shorter"),
    pytest.param(ISOLATED, False, ZOMBIE_BATCHES_MANY, id="isolated-longer", marks=extended),
    pytest.param(ONE_WAY_OUT, True, ZOMBIE_BATCHES_MANY, id="one-way-out-controller-leader",
                 marks=extended),
    pytest.param(ONE_WAY_OUT, False, ZOMBIE_BATCHES_MANY, id="one-way-out"),
]


@pytest.mark.parametrize("fault,controller_leader,zombie_batches", LEADER_CASES)
def test_leader_cut_off_heals_steps_down_and_truncates(
        millrace_cluster, tmp_path, fault, controller_leader, zombie_batches):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(brokers=3, extra=run.BROKER_EXTRA, proxies=proxies)
        workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
        raft_leader = describe_quorum_v0(cluster.node(1).bootstrap)[1]
        old = raft_leader if controller_leader else next(
            b for b in sorted(cluster.nodes) if b != raft_leader)
        create_topic_led_by(cluster, old)
        history_path = tmp_path / "history.jsonl"
        history = h.History(history_path)
        produce_for("before", cluster.bootstrap, history, LOAD_S)

        cut_off(proxies, fault, old, cluster.nodes)
        answers = {}
        with kafka_wire.connect(cluster.node(old).bootstrap,
                                timeout_s=ZOMBIE_ACKS_ALL_TIMEOUT_MS / 1000 + 30) as sock:
            for i in range(zombie_batches):
                batch = kafka_wire.encode_record_batch(
                    [(None, f"{ZOMBIE_PREFIX}-acks1-{i}-{j}".encode())
                     for j in range(ZOMBIE_BATCH_RECORDS)], int(time.time() * 1000))
                answers[f"acks=1 #{i}"] = kafka_wire.produce_v3(
                    sock, 10 + i, TOPIC, {0: batch}, acks=1)[0]
            answers["acks=all"] = kafka_wire.produce_v3(
                sock, 10 + zombie_batches, TOPIC, {0: one_batch(f"{ZOMBIE_PREFIX}-acks-all")},
                acks=-1, timeout_ms=ZOMBIE_ACKS_ALL_TIMEOUT_MS)[0]
        print(f"the cut-off leader {old} (controller leader: {controller_leader}) answered "
              f"{sorted(set(answers.values()))[:3]}.. acks=all {answers['acks=all']}")
        expect(answers["acks=all"][0] != 0,
               f"the leader {old}, cut off from its followers, acknowledged an acks=all "
               f"produce: {answers['acks=all']}")

        elected = new_leader(cluster, 0, old)
        # A client on the majority's side: one whose only connection is to the cut-off broker
        # retries there (its InitProducerId, its produce after the stale Metadata that broker
        # serves) until the heal, as it would with Kafka's brokers.
        majority = ",".join(cluster.node(b).bootstrap for b in sorted(cluster.nodes) if b != old)
        produce_for("during", majority, history, LOAD_S)
        # Where the old leader's log ends: past the last batch it took (an acks=all batch may
        # be appended and then time out unacknowledged).
        old_end = max([base + ZOMBIE_BATCH_RECORDS for key, (error, base) in answers.items()
                       if key != "acks=all" and error == 0]
                      + [answers["acks=all"][1] + 1], default=0)
        with kafka_wire.connect(cluster.node(elected).bootstrap) as sock:
            error, _, new_end = kafka_wire.list_offsets_v1(sock, 1, TOPIC, {0: -1})[0]
        expect(error == 0, f"ListOffsets of the new leader {elected} answered error {error}")
        # The case this run checks: the old leader's log ends past the new one's or short of it.
        # One-way, the old leader may learn of the new one before the heal (the controller's
        # Raft messages still reach it) and refuse the acks=1 records.
        expect(fault != ISOLATED or (old_end > new_end) == (zombie_batches == ZOMBIE_BATCHES_MANY),
               f"before the heal, the old leader's log ends at {old_end}, the new leader's "
               f"high watermark is {new_end}")
        healed_at = time.monotonic()
        proxies.heal()
        # Asked of the old leader itself: it must stop naming itself the leader.
        workload.wait_for(lambda: (state := state_seen_by(cluster.node(old))) and state[0] != old,
                          f"the healed old leader {old} no longer naming itself leader",
                          REJOIN_TIMEOUT_S)
        stepped_down_s = time.monotonic() - healed_at
        leader = state_seen_by(cluster.node(elected))[0]
        rejoined_s = wait_in_isr(cluster, leader, old, REJOIN_TIMEOUT_S - stepped_down_s)
        rejoined_s += stepped_down_s
        print(f"healed old leader {old}: stepped down {stepped_down_s:.1f} s, back in the ISR of "
              f"leader {leader} {rejoined_s:.1f} s after the heal")
        produce_for("after", cluster.bootstrap, history, LOAD_S)
        history.close()
        result = check_history_and_replicas(cluster, history_path, 1)
    finally:
        proxies.close()
    final = [e["value"] for e in h.load(history_path) if e["type"] == h.FINAL]
    zombies = [v for v in final if v.startswith(ZOMBIE_PREFIX)]
    expect(not zombies, f"records written to the cut-off leader are in the final log: {zombies}")
    expect(not log_holds(cluster, old, ZOMBIE_PREFIX),
           f"the healed old leader {old} still holds records written while it was cut off")
    expect(acked_values(history_path) & {v for v in final if v.startswith("during-")},
           f"nothing acknowledged by the new leader {elected} is in the final log")
    result.assert_valid()


@pytest.mark.parametrize("fault", [ISOLATED, ONE_WAY_ANSWERS])
def test_follower_cut_off_heals_and_rejoins_the_isr(millrace_cluster, tmp_path, fault):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(brokers=3, extra=(*run.BROKER_EXTRA,
                                                     f"replica.lag.time.max.ms={LAG_MS}"),
                                   proxies=proxies)
        workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
        # Neither on the controller's Raft leader: the fault cuts the follower from the
        # partition leader only, not the partition leader from the controller (a leader that
        # cannot reach the controller is fenced instead of shrinking the ISR).
        raft_leader = describe_quorum_v0(cluster.node(1).bootstrap)[1]
        leader, follower = (b for b in sorted(cluster.nodes) if b != raft_leader)
        create_topic_led_by(cluster, leader)
        wait_in_isr(cluster, leader, follower)
        history_path = tmp_path / "history.jsonl"
        history = h.History(history_path)
        producer = workload.Producer("load", cluster.bootstrap, TOPIC, 1, history,
                                     LOAD_RATE_PER_S)
        producer.start()
        try:
            time.sleep(LOAD_S)
            isolated_at = time.time()
            if fault == ISOLATED:
                proxies.isolate(follower, sorted(cluster.nodes))
            else:
                proxies.one_way(leader, follower)
            workload.wait_for(
                lambda: (state := state_seen_by(cluster.node(leader)))
                and sorted(state[2]) == sorted(b for b in cluster.nodes if b != follower),
                f"the isolated follower {follower} out of the ISR of leader {leader}",
                SHRINK_TIMEOUT_S)
            shrunk_s = time.time() - isolated_at
            time.sleep(LOAD_S)
            healed_at = time.time()
            proxies.heal()
            rejoined_s = wait_in_isr(cluster, leader, follower)
            print(f"follower {follower}: out of the ISR {shrunk_s:.1f} s after the cut, back "
                  f"{rejoined_s:.1f} s after the heal")
            time.sleep(LOAD_S)
        finally:
            producer.stop()
            producer.join(workload.FLUSH_TIMEOUT_S + 10)
        history.close()
        expect(producer.failure is None, f"the producer failed: {producer.failure!r}")
        acked_while_cut = [e for e in h.load(history_path)
                           if e["type"] == h.SEND and e["status"] == h.OK
                           and isolated_at + 1 < e["time"] < healed_at]
        expect(acked_while_cut, f"nothing was acknowledged while follower {follower} was cut off")
        result = check_history_and_replicas(cluster, history_path, 1)
    finally:
        proxies.close()
    result.assert_valid()
