"""An idempotent producer's retry across a leader crash is written once (issue 13, the Jepsen
duplicate `py2-3061` at offsets 3558 and 3633 of partition 1).

The crash that makes it, replayed deterministically over the raw protocol:
- RF=3, min.insync.replicas=2. An idempotent producer writes 5 batches with acks=all, then a
  sixth, B (sequence 5), that both followers fetch but whose answer the producer never gets;
- the leader is killed -9 before B reached its own disk (B is zeroed in its segment file, as
  if the group commit's fdatasync never ran: followers read a leader's appends before they are
  fsynced, as in Kafka), and restarts within its broker session, the replica fetches between it
  and the followers held (its controller links stay open);
- clients still see it as the leader: another producer writes Q to it, and the producer
  retries B to it;
- then the links heal, the controller elects a new leader, and the producer retries B there.

Apache Kafka: a restarted broker serves no partition before it is registered again, and the
controller gives its partitions a new leader epoch first (a broker never leads again at an
epoch it led before its crash). So the restarted broker refuses Q and B with
NOT_LEADER_OR_FOLLOWER, and the new leader answers the retry of B with B's original offset
(5), no error, without appending it again: B is in the log once, and every replica holds the
same bytes.

millrace before the fix: the restarted broker took back the leadership its replayed metadata
named, at the same epoch, from its shorter log: it appended Q at 5 and B again at 6, the
followers (which had B at 5, and saw the same epoch) appended B at 6 after their own B at 5,
and the new leader then held B twice while the old one held Q at 5.
"""

import time

import kafka_wire
from jepsen import run, workload
from jepsen.checker import expect
from jepsen.proxy import ProxyNet

TOPIC = "restarted"
FIRST_SEGMENT = "00000000000000000000.log"
BATCHES_BEFORE = 5
NOT_LEADER_OR_FOLLOWER = 6
# What a retried or stale produce may get meanwhile, besides NOT_LEADER_OR_FOLLOWER.
RETRIABLE = {NOT_LEADER_OR_FOLLOWER, 3, 5, 7, 19, 20}  # unknown topic, no leader, timeout, ISR
# Produces sent to the restarted broker while its inter-broker links are cut.
STALE_TRIES_S = 3.0
# The controller fences the crashed incarnation after its 9 s session, then elects.
FAILOVER_TIMEOUT_S = 60.0
ACKS_ALL_TIMEOUT_MS = 2000


def batch(producer, sequence, value):
    producer_id, epoch = producer
    return kafka_wire.encode_record_batch([(None, value.encode())], int(time.time() * 1000),
                                          producer_id, epoch, sequence)


def produce(bootstrap, topic, payload, acks=-1):
    """(error code, base offset) of one batch to partition 0 of `topic`, or ("closed", why)."""
    try:
        with kafka_wire.connect(bootstrap, timeout_s=10) as sock:
            return kafka_wire.produce_v3(sock, 1, topic, {0: payload}, acks=acks,
                                         timeout_ms=ACKS_ALL_TIMEOUT_MS)[0]
    except OSError as closed:
        return ("closed", repr(closed))


def segment_batches(cluster, broker):
    path = cluster.node(broker).data_dir / f"{TOPIC}-0" / FIRST_SEGMENT
    return path, kafka_wire.walk_log_segment(path.read_bytes())


def wait_followers_hold(cluster, followers, batches):
    def held():
        return all(len(segment_batches(cluster, f)[1]) >= batches for f in followers)
    workload.wait_for(held, f"followers {followers} hold {batches} batches", 30)


def zero_last_batch(cluster, broker):
    """Zeroes the last batch of the broker's segment: its fdatasync never ran."""
    path, batches = segment_batches(cluster, broker)
    position, base_offset, _, size = batches[-1]
    with open(path, "r+b") as segment:
        segment.seek(position)
        segment.write(b"\0" * size)
    return base_offset


def records(bootstrap, topic):
    """[(offset, value)] of partition 0 up to the high watermark, from `bootstrap`."""
    found, offset = [], 0
    with kafka_wire.connect(bootstrap) as sock:
        for correlation_id in range(1, 1000):
            error, high_watermark, data = kafka_wire.fetch_v4(sock, correlation_id, topic,
                                                              {0: offset})[0]
            assert error == kafka_wire.ERROR_NONE, f"fetch error {error}"
            batch_records = [r for r in kafka_wire.decode_record_batches(data) if r[0] >= offset]
            found += [(r[0], r[2].decode()) for r in batch_records]
            if batch_records:
                offset = batch_records[-1][0] + 1
            if offset >= high_watermark:
                return found
    raise AssertionError(f"{topic}-0 not read to its high watermark")


def test_restarted_leader_takes_no_produce_and_a_retry_is_written_once(millrace_cluster):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(brokers=3, extra=run.BROKER_EXTRA, proxies=proxies)
        workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
        leader = run.create_topic(cluster.bootstrap, TOPIC, partitions=1)[0]
        followers = [b for b in cluster.nodes if b != leader]
        with kafka_wire.connect(cluster.node(leader).bootstrap) as sock:
            error, producer_id, epoch = kafka_wire.init_producer_id_v4(sock, 1)
        assert error == kafka_wire.ERROR_NONE, f"InitProducerId error {error}"
        producer = (producer_id, epoch)
        for sequence in range(BATCHES_BEFORE):
            answer = produce(cluster.node(leader).bootstrap, TOPIC, batch(producer, sequence, f"p{sequence}"))
            assert answer == (0, sequence), f"batch {sequence} answered {answer}"
        b_batch = batch(producer, BATCHES_BEFORE, "B")
        # B's answer is lost: the producer will retry it.
        produce(cluster.node(leader).bootstrap, TOPIC, b_batch, acks=1)
        wait_followers_hold(cluster, followers, BATCHES_BEFORE + 1)

        for follower in followers:
            proxies.hold_replication(leader, follower)
        cluster.kill(leader)
        lost = zero_last_batch(cluster, leader)
        assert lost == BATCHES_BEFORE, f"the leader's last batch is at {lost}"
        cluster.restart(leader)
        # Clients still find the restarted broker as the leader.
        stale = {"Q": [], "B": []}
        deadline = time.monotonic() + STALE_TRIES_S
        while time.monotonic() < deadline:
            stale["Q"].append(produce(cluster.node(leader).bootstrap, TOPIC,
                                      kafka_wire.encode_record_batch([(None, b"Q")], int(time.time() * 1000)),
                                      acks=1))
            stale["B"].append(produce(cluster.node(leader).bootstrap, TOPIC, b_batch))
            if stale["Q"][-1][0] == 0:
                break
            time.sleep(0.2)
        proxies.heal()

        # The retry of B, to whoever leads now, until it is answered.
        answers = []
        deadline = time.monotonic() + FAILOVER_TIMEOUT_S
        while time.monotonic() < deadline:
            current = workload.partition_states(cluster.bootstrap, TOPIC).get(0)
            if current and current[0] in cluster.nodes and current[0] != leader:
                answers.append(produce(cluster.node(current[0]).bootstrap, TOPIC, b_batch))
                if answers[-1][0] == 0 or answers[-1][0] not in RETRIABLE:
                    break
            time.sleep(0.5)
        new_leader = current[0]
        log = records(cluster.node(new_leader).bootstrap, TOPIC)
        hw = log[-1][0] + 1 if log else 0
        differ = run.wait_replicas_agree(cluster, TOPIC, {0: hw})
    finally:
        proxies.close()

    accepted = {name: [a for a in tries if a[0] == 0] for name, tries in stale.items()}
    b_offsets = [offset for offset, value in log if value == "B"]
    problems = []
    if b_offsets != [BATCHES_BEFORE]:
        problems.append(f"B is at offsets {b_offsets} of the new leader's log {log}")
    if accepted["Q"] or accepted["B"]:
        problems.append(f"broker {leader}, restarted within its session with a log ending at "
                        f"{lost}, took produce as the leader of the epoch it led before the "
                        f"crash: {accepted}")
    if not answers or answers[-1] != (0, BATCHES_BEFORE):
        problems.append(f"the retry of B (sequence {BATCHES_BEFORE}) to the new leader "
                        f"{new_leader} was answered {answers[-3:]}, expected B's original "
                        f"offset {BATCHES_BEFORE}")
    if differ:
        problems.append(f"replicas differ below the high watermark {hw}: {differ}")
    expect(not problems, "; ".join(problems))
