"""Issue 13: stray logs. A broker that starts holding the directory of a partition the cluster
metadata no longer places on it (its topic was deleted while the broker was down, or the
partition was reassigned away meanwhile) deletes it, with a log line naming it, instead of keeping
it forever. Kafka 3.7+ does it at its first metadata image after it caught up
(`LogManager.isStrayKraftReplica`: the topic id is not in the image, or the assignment does not
name this broker): it renames such a log `-stray` and deletes it. A partition the metadata still
places on the broker keeps its data.

Three brokers (num.shards=1); broker 3 is stopped, the topic deleted and the partition moved from
[1, 3] to [1, 2], then broker 3 starts again. Whether its views while it replays its metadata log
show those two changes happen (deleted by the view change) or already done (found stray) varies
from run to run; a third directory, of a topic the metadata never had (copied in while the broker
is down, as a deletion long compacted away would leave it), is always found stray."""

import shutil
import time

from kafka import TopicPartition as KafkaPythonPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import NotControllerError, UnknownBrokerIdError

from clients import consume_all, new_producer, produce_all, unique_topic
from test_cluster_reassign_partitions import describe, wait_for
from test_cluster_three_brokers_serve_clients import wait_for_brokers
from test_replication_rf3_followers_hold_the_leaders_bytes import wait_for_identical_logs, wait_for_leader

RECORDS = 50
ADMIN_TIMEOUT_S = 30
# Reassignment completes once broker 2 caught up; the restarted broker registers and deletes.
MOVE_TIMEOUT_S = 60
STRAY_TIMEOUT_S = 60
RESTARTED = 3
LOG_TAIL_BYTES = 1 << 20
RETRY_PAUSE_S = 0.5


def new_admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=ADMIN_TIMEOUT_S * 1000)


def admin_call_without(bootstrap, call):
    """`call(admin)` with an admin client made after the broker stopped, made again while the call
    fails for want of a controller: kafka-python sends admin requests to the controller id of the
    Metadata it read first, which can be the stopped broker (UnknownBrokerIdError: 3, 1 of 6 runs
    in session 25), or a broker that no longer takes them (NOT_CONTROLLER). Neither request was
    carried out, so asking again changes nothing else."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        admin = new_admin(bootstrap)
        try:
            return call(admin)
        except (UnknownBrokerIdError, NotControllerError):
            if time.monotonic() > deadline:
                raise
        finally:
            admin.close()
        time.sleep(RETRY_PAUSE_S)


def produce(bootstrap, topic):
    producer = new_producer(bootstrap, acks="all", **{"enable.idempotence": True})
    delivered = produce_all(producer, topic, [(None, b"r%d" % i) for i in range(RECORDS)], partition=0)
    assert not delivered.errors, delivered.errors[:3]


def directories(node, topic):
    """The names of the directories of `topic`'s partitions in the node's data dir, renamed
    ones (`-stray`, `-delete`) included."""
    return sorted(path.name for path in node.data_dir.iterdir()
                  if path.is_dir() and path.name.startswith(f"{topic}-"))


def test_a_restarted_broker_deletes_the_logs_the_metadata_no_longer_places_on_it(millrace_cluster):
    cluster = millrace_cluster(brokers=3)
    wait_for_brokers(cluster.bootstrap, 3)
    admin = new_admin(cluster.node(1).bootstrap)
    gone, moved, kept = (unique_topic(p) for p in ("stray-gone", "stray-moved", "stray-kept"))
    admin.create_topics([NewTopic(gone, 1, 3), NewTopic(kept, 1, 3),
                         NewTopic(moved, replica_assignments={0: [1, RESTARTED]})])
    for topic in (gone, moved, kept):
        wait_for_leader(cluster.bootstrap, topic)
        produce(cluster.bootstrap, topic)
    wait_for_identical_logs(cluster, gone, [1, 2, 3], RECORDS)
    wait_for_identical_logs(cluster, kept, [1, 2, 3], RECORDS)
    wait_for_identical_logs(cluster, moved, [1, RESTARTED], RECORDS)
    node = cluster.node(RESTARTED)

    cluster.stop(RESTARTED)
    admin.close()
    bootstrap = cluster.node(1).bootstrap
    admin_call_without(bootstrap, lambda a: a.delete_topics([gone]))
    admin_call_without(bootstrap,
                       lambda a: a.alter_partition_reassignments({KafkaPythonPartition(moved, 0): [1, 2]}))
    admin = new_admin(bootstrap)
    wait_for(f"{moved} moved to [1, 2]", lambda: describe(admin, moved)[0][1] == [1, 2], MOVE_TIMEOUT_S)
    wait_for_identical_logs(cluster, moved, [1, 2], RECORDS)
    assert directories(node, gone) == [f"{gone}-0"] and directories(node, moved) == [f"{moved}-0"]
    orphan = unique_topic("stray-orphan")
    shutil.copytree(node.data_dir / f"{kept}-0", node.data_dir / f"{orphan}-0")

    cluster.restart(RESTARTED)
    deadline = time.monotonic() + STRAY_TIMEOUT_S
    strays = (gone, moved, orphan)
    left = [name for topic in strays for name in directories(node, topic)]
    while left and time.monotonic() < deadline:
        time.sleep(0.3)
        left = [name for topic in strays for name in directories(node, topic)]
    assert not left, f"broker {RESTARTED} still holds {left} {STRAY_TIMEOUT_S}s after its restart"
    log = node.stderr_tail(LOG_TAIL_BYTES)
    assert f"stray log {orphan}-0 deleted" in log, f"no log line names the stray {orphan}-0"
    # Deleted as strays, or by the view change that removed them (both say so).
    assert f"stray log {gone}-0 deleted" in log or f"deleted topic {gone}" in log
    assert f"stray log {moved}-0 deleted" in log or f"deleted {moved}-0" in log
    # What the metadata still places on the broker stays, and it serves it again.
    assert directories(node, kept) == [f"{kept}-0"]
    wait_for_identical_logs(cluster, kept, [1, 2, 3], RECORDS)
    assert len(consume_all(cluster.bootstrap, moved, 1)[0]) == RECORDS
    admin.close()
