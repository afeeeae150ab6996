"""InitProducerId on a broker whose requests no longer reach the controller answers soon, with a
retriable error, instead of holding the client while the broker asks the controller for a
block of producer ids.

Apache Kafka (RPCProducerIdManager, since KAFKA-14694): a broker with no producer id left asks
the controller for the next block in the background and answers COORDINATOR_LOAD_IN_PROGRESS at
once; the client retries, on whichever broker it picks. An idempotent producer sends nothing
before it has an id, so a broker that holds InitProducerId for the controller call's whole
retry budget (tens of seconds when the controller's answers never come, e.g. a one-way
partition) makes every record of that producer time out, though two healthy brokers could have
served it. Found by the healing test of a leader cut off one way
(test_replication_partitioned_replica_heals_without_restart.py): its acks=all producer got no
record acknowledged whenever its InitProducerId went to the cut-off broker.

Three `millrace serve` nodes (all controller voters, num.shards=1), their links through
tests/jepsen/proxy.py proxies; a broker other than the Raft leader, that has handed out no
producer id yet (so it has no block), gets every byte it sends to the other brokers held; a
client connected straight to it asks for a producer id.
"""

import time

import kafka_wire
from jepsen import workload
from jepsen.proxy import ProxyNet
from test_cluster_three_brokers_serve_clients import describe_quorum_v0

# librdkafka's socket.timeout.ms is 60 s and a producer's message.timeout.ms often 30 s: an
# answer has to come well within both for the client to retry elsewhere in time.
ANSWER_WITHIN_S = 10.0
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15


def test_init_producer_id_on_a_broker_cut_off_from_the_controller_answers_soon(
        millrace_cluster):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(brokers=3, proxies=proxies)
        workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
        raft_leader = describe_quorum_v0(cluster.node(1).bootstrap)[1]
        cut = next(b for b in sorted(cluster.nodes) if b != raft_leader)
        for other in sorted(cluster.nodes):
            if other != cut:
                proxies.one_way(cut, other)
        with kafka_wire.connect(cluster.node(cut).bootstrap, timeout_s=120) as sock:
            started = time.monotonic()
            error, producer_id, _ = kafka_wire.init_producer_id_v4(sock, 1)
            took_s = time.monotonic() - started
        print(f"broker {cut} cut off from the controller answered InitProducerId with error "
              f"{error}, id {producer_id}, in {took_s:.1f} s")
        assert took_s < ANSWER_WITHIN_S, (
            f"broker {cut}, its requests to the controller held, answered InitProducerId after "
            f"{took_s:.1f} s (error {error}), not within {ANSWER_WITHIN_S} s")
        assert error in (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE), (
            f"broker {cut} with no producer id block answered error {error}, id {producer_id}")
        # Healed, the block comes and the same broker hands out an id.
        proxies.heal()
        with kafka_wire.connect(cluster.node(cut).bootstrap) as sock:
            answer = workload.wait_for(
                lambda: (found := kafka_wire.init_producer_id_v4(sock, 2))[0] == 0 and found,
                f"a producer id from the healed broker {cut}", 30.0, interval_s=0.5)
        assert answer[1] >= 0, answer
    finally:
        proxies.close()
