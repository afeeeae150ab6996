"""kill -9 under acks=all load: every record the broker acknowledged before dying is present,
at its acknowledged offset, after an unclean restart on the same data dir."""

import time

from clients import (
    AcksAllLoad,
    assert_contiguous_from_zero,
    consume_all,
    create_topic,
    new_producer,
    unique_topic,
)

PARTITIONS = 3
ACKED_BEFORE_KILL = 20_000
LOAD_TIMEOUT_S = 60.0
THREAD_JOIN_TIMEOUT_S = 30.0


def test_kill_9_under_acks_all_load_keeps_every_acknowledged_record(broker):
    b = broker()
    topic = unique_topic("unclean")
    create_topic(b.bootstrap, topic, PARTITIONS)
    load = AcksAllLoad(b.bootstrap, topic, retries=0)
    load.start()

    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while len(load.acked) < ACKED_BEFORE_KILL:
        assert time.monotonic() < deadline, f"only {len(load.acked)} acks in {LOAD_TIMEOUT_S}s"
        assert load.is_alive(), "producer thread died"
        time.sleep(0.01)
    assert load.failed == 0, f"{load.failed} deliveries failed before the kill"
    b.kill()  # the producer is still producing: it is stopped only after the kill
    load.stopping.set()
    load.join(THREAD_JOIN_TIMEOUT_S)
    assert not load.is_alive(), "producer thread did not stop"
    acked = list(load.acked)
    # Whether any record was unacknowledged at the kill depends on timing (the broker may keep
    # up with one Python producer), so it is not asserted; what must hold is below.

    b.start()
    received = consume_all(b.bootstrap, topic, PARTITIONS)

    assert_contiguous_from_zero(received)
    present = {(p, o): v for p, records in received.items() for o, _, v in records}
    missing = [(p, o, v) for p, o, v in acked if present.get((p, o)) != v]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost or changed, e.g. {missing[:5]}"

    producer = new_producer(b.bootstrap, acks="all")
    after = []
    producer.produce(topic, value=b"after-restart", partition=0, on_delivery=lambda e, m: after.append((e, m.offset())))
    assert producer.flush(30) == 0
    assert after and after[0][0] is None, f"produce after unclean restart failed: {after}"
    assert after[0][1] == len(received[0]), "append after recovery must continue at the recovered end"
