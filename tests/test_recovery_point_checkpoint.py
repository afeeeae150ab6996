"""A restart after kill -9 checks only what was written after the recovery point. The broker keeps
Kafka's `recovery-point-offset-checkpoint` file in its log directory (Kafka's format: version,
count, `topic partition offset` lines), naming per partition an offset up to which the log was
fdatasynced. After a kill -9 and a torn last batch written past that point, the restart checks
only the bytes after it (its log says where the check started and how much it read, a small part
of the segment), cuts the torn batch, and serves every record before it; a clean stop leaves the
log end as the recovery point, so the next start checks almost nothing."""

import re
import time

import kafka_wire
from clients import (
    assert_contiguous_from_zero,
    consume_all,
    create_topic,
    new_producer,
    produce_all,
    unique_topic,
)

CHECKPOINT_FILE = "recovery-point-offset-checkpoint"
SEGMENT = "00000000000000000000"
BULK_ROUNDS = 20
BULK_PER_ROUND = 1000
VALUE = b"v" * 200
TAIL_RECORDS = 20
CHECKPOINT_WAIT_S = 30.0
POLL_S = 0.1
CHECKED = re.compile(r"checked (\d+) bytes from position (\d+) \(recovery point Some\((\d+)\)\)")


def recovery_points(data_dir):
    """{(topic, partition): offset} from the checkpoint file, checking Kafka's format."""
    lines = (data_dir / CHECKPOINT_FILE).read_text().splitlines()
    assert lines[0] == "0", lines
    entries = [line.split(" ") for line in lines[2:]]
    assert int(lines[1]) == len(entries), lines
    return {(topic, int(partition)): int(offset) for topic, partition, offset in entries}


def wait_for_recovery_point(data_dir, topic, offset):
    deadline = time.monotonic() + CHECKPOINT_WAIT_S
    while True:
        try:
            if recovery_points(data_dir).get((topic, 0)) == offset:
                return
        except (FileNotFoundError, IndexError):
            pass
        assert time.monotonic() < deadline, f"no recovery point {offset} for {topic}-0"
        time.sleep(POLL_S)


def test_kill_then_restart_checks_only_past_the_recovery_point(broker):
    b = broker(**{"log.flush.offset.checkpoint.interval.ms": 200})
    topic = unique_topic("recpoint")
    create_topic(b.bootstrap, topic, 1)
    producer = new_producer(b.bootstrap, acks="all", **{"linger.ms": 20})
    for r in range(BULK_ROUNDS):
        messages = [(f"b{r}-{i}".encode(), VALUE) for i in range(BULK_PER_ROUND)]
        assert not produce_all(producer, topic, messages, partition=0).errors
    bulk = BULK_ROUNDS * BULK_PER_ROUND
    wait_for_recovery_point(b.data_dir, topic, bulk)

    # Past the recovery point: one batch per record, then a kill -9 and a torn last batch.
    for i in range(TAIL_RECORDS):
        assert not produce_all(producer, topic, [(f"t{i}".encode(), VALUE)], partition=0).errors
    b.kill()
    # Passes go on while the tail is produced: the recovery point may have moved past the bulk.
    recorded = recovery_points(b.data_dir)[(topic, 0)]
    assert bulk <= recorded <= bulk + TAIL_RECORDS, recorded
    log_path = b.data_dir / f"{topic}-0" / f"{SEGMENT}.log"
    data = log_path.read_bytes()
    batches = kafka_wire.walk_log_segment(data)
    assert batches[-1][2] == bulk + TAIL_RECORDS - 1
    position, _, _, total = batches[-1]
    with open(log_path, "r+b") as f:
        f.seek(position + total // 2)
        f.write(b"\0" * (total - total // 2))

    b.start()
    records = consume_all(b.bootstrap, topic, 1)
    assert_contiguous_from_zero(records)
    keys = [key for _, key, _ in records[0]]
    assert len(keys) == bulk + TAIL_RECORDS - 1
    assert keys[-1] == f"t{TAIL_RECORDS - 2}".encode()

    checked, start, point = last_check(b)
    assert point == recorded
    assert start > 0
    # The check starts at an index entry a block before the recovery point: at the latest bulk
    # batches (~200 KB each), not at the segment start.
    last_bulk = max(i for i, batch in enumerate(batches) if batch[2] < bulk)
    assert start >= batches[last_bulk - 1][0], (start, batches[last_bulk - 1 : last_bulk + 1])
    segment_bytes = position + total
    assert checked < segment_bytes // 4, f"checked {checked} of {segment_bytes} bytes"

    # A clean stop leaves the log end as the recovery point.
    assert b.stop() == 0
    assert recovery_points(b.data_dir)[(topic, 0)] == bulk + TAIL_RECORDS - 1
    b.start()
    assert len(consume_all(b.bootstrap, topic, 1)[0]) == bulk + TAIL_RECORDS - 1


def last_check(b):
    """(bytes checked, position the check started at, recovery point) from the last start."""
    start_log = b.stderr_tail(1 << 20).rsplit("===== start #", 1)[-1]
    found = CHECKED.findall(start_log)
    assert found, start_log[-3000:]
    checked, start, point = found[-1]
    return int(checked), int(start), int(point)
