"""Idempotent producer state across restarts and past 4,096 producers, over the raw protocol.

An idempotent producer's batches land in a segment that is then sealed (small segment.bytes),
the broker restarts (SIGTERM or SIGKILL), and the producer resends the exact same batch (same
producer id, epoch and sequence), as a client does when it never saw the first answer: the
broker must answer with the original offsets and not append it again. A sequence gap after the
restart must get OUT_OF_ORDER_SEQUENCE_NUMBER. The state comes back from Kafka's producer
snapshot files (`<offset>.snapshot`, checked here byte for byte) plus the batches after them;
a damaged snapshot falls back to an older one with a log line.

Past 4,096 producers a partition must still deduplicate every producer that wrote recently;
when the table is full of such producers (a configured bound), a new producer is refused with
THROTTLING_QUOTA_EXCEEDED and a log line, and producers idle past producer.id.expiration.ms
make room.
"""

import struct
import time

import pytest

import kafka_wire
from clients import create_topic, unique_topic

SEGMENT_BYTES = 16384  # the smallest segment the broker rolls at
VALUE_BYTES = 5000  # three producer batches fit one segment, a fourth batch rolls it
SMALL_VALUE_BYTES = 10
FIRST_SEGMENT = "00000000000000000000"
SNAPSHOT_VERSION = 1
SNAPSHOT_HEADER_BYTES = 2 + 4 + 4  # version, crc, entry count
SNAPSHOT_ENTRY_BYTES = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
LOG_WAIT_S = 10
MANY_PRODUCERS = 4100  # past the 4,096 the broker used to keep per partition


class Wire:
    """One raw connection with its correlation ids."""

    def __init__(self, bootstrap):
        self.sock = kafka_wire.connect(bootstrap)
        self.correlation_id = 0

    def next_id(self):
        self.correlation_id += 1
        return self.correlation_id

    def init_producer(self):
        error, producer_id, epoch = kafka_wire.init_producer_id_v4(self.sock, self.next_id())
        assert error == kafka_wire.ERROR_NONE, f"InitProducerId error {error}"
        return producer_id, epoch

    def produce(self, topic, batch):
        """(error code, base offset) of one batch to partition 0, acks=all."""
        return kafka_wire.produce_v3(self.sock, self.next_id(), topic, {0: batch})[0]

    def records(self, topic):
        """[(offset, key, value)] of the whole partition."""
        records, offset = [], 0
        while True:
            error, high_watermark, data = kafka_wire.fetch_v4(self.sock, self.next_id(), topic, {0: offset})[0]
            assert error == kafka_wire.ERROR_NONE, f"fetch error {error}"
            found = [r for r in kafka_wire.decode_record_batches(data) if r[0] >= offset]
            records += found
            if found:
                offset = found[-1][0] + 1
            if offset >= high_watermark:
                return records

    def close(self):
        self.sock.close()


def producer_batch(producer, sequence, tag, timestamp_ms=None, value_bytes=VALUE_BYTES):
    producer_id, epoch = producer
    value = tag.encode().ljust(value_bytes, b".")
    timestamp_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return kafka_wire.encode_record_batch([(tag.encode(), value)], timestamp_ms, producer_id, epoch, sequence)


def plain_batch(tag):
    return kafka_wire.encode_record_batch([(tag.encode(), tag.encode().ljust(VALUE_BYTES, b"."))], int(time.time() * 1000))


def accepted(answer):
    error, base_offset = answer
    assert error == kafka_wire.ERROR_NONE, f"produce error {error}"
    return base_offset


def logged(b, text, timeout_s=LOG_WAIT_S):
    """Whether the broker logs `text` within the timeout (a logger thread writes its lines)."""
    deadline = time.monotonic() + timeout_s
    while text not in b.stderr_tail(64_000):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def partition_dir(b, topic):
    return b.data_dir / f"{topic}-0"


def segment_bases(b, topic):
    return sorted(int(p.stem) for p in partition_dir(b, topic).glob("*.log"))


def snapshot_offsets(b, topic):
    return sorted(int(p.name.split(".")[0]) for p in partition_dir(b, topic).glob("*.snapshot"))


def write_into_sealed_segment(b, topic):
    """Two producers write into the first segment, which a plain batch then seals. Returns
    (wire, p1, p2, {name: (batch bytes, offset)})."""
    wire = Wire(b.bootstrap)
    p1, p2 = wire.init_producer(), wire.init_producer()
    sent = {}
    for name, producer, sequence in (("p1-s0", p1, 0), ("p1-s1", p1, 1), ("p2-s0", p2, 0)):
        batch = producer_batch(producer, sequence, name)
        sent[name] = (batch, accepted(wire.produce(topic, batch)))
    for index in range(3):
        accepted(wire.produce(topic, plain_batch(f"filler-{index}")))
    bases = segment_bases(b, topic)
    assert len(bases) >= 2 and bases[0] == 0, f"segments {bases}: the first one should be sealed"
    assert all(offset < bases[1] for _, offset in sent.values()), f"{sent} should sit in segment 0"
    return wire, p1, p2, sent


def restart(b, how):
    if how == "sigterm":
        assert b.stop() == 0, f"clean shutdown should exit 0\n{b.stderr_tail()}"
    else:
        b.kill()
    b.start()


def assert_retries_are_duplicates(b, topic, p2, sent):
    """Retries of p1's batches get their original offsets, p2's sequence gap is refused, and
    nothing is in the log twice. Every problem is reported, not only the first."""
    wire = Wire(b.bootstrap)
    problems = []
    try:
        end_before = len(wire.records(topic))
        for name in ("p1-s1", "p1-s0"):
            batch, offset = sent[name]
            answer = wire.produce(topic, batch)
            if answer != (kafka_wire.ERROR_NONE, offset):
                problems.append(f"retry of {name} (offset {offset}, in a sealed segment) answered {answer}")
        gap = wire.produce(topic, producer_batch(p2, 5, "p2-gap"))
        if gap[0] != kafka_wire.ERROR_OUT_OF_ORDER_SEQUENCE_NUMBER:
            problems.append(f"p2 wrote sequence 0 only: its sequence 5 answered {gap}, not OUT_OF_ORDER_SEQUENCE_NUMBER")
        next_answer = wire.produce(topic, producer_batch(p2, 1, "p2-s1"))
        if next_answer[0] != kafka_wire.ERROR_NONE:
            problems.append(f"p2's next sequence 1 answered {next_answer}")
        keys = [key for _, key, _ in wire.records(topic)]
        for name in ("p1-s0", "p1-s1", "p2-s0", "p2-s1", "p2-gap"):
            expected = 0 if name == "p2-gap" else 1
            if keys.count(name.encode()) != expected:
                problems.append(f"{name} is in the log {keys.count(name.encode())} time(s), expected {expected}")
        if len(keys) != end_before + 1:
            problems.append(f"the log grew from {end_before} to {len(keys)} records; only p2-s1 is new")
    finally:
        wire.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_retry_of_a_batch_in_a_sealed_segment_is_a_duplicate_after_restart(broker, how):
    b = broker()
    topic = unique_topic("pstate")
    create_topic(b.bootstrap, topic, 1, config={"segment.bytes": str(SEGMENT_BYTES)})
    wire, _, p2, sent = write_into_sealed_segment(b, topic)
    wire.close()
    restart(b, how)
    assert_retries_are_duplicates(b, topic, p2, sent)
    # A second restart rebuilds from what the first run after restart wrote (snapshot or tail).
    restart(b, how)
    wire = Wire(b.bootstrap)
    batch, offset = sent["p1-s1"]
    assert wire.produce(topic, batch) == (kafka_wire.ERROR_NONE, offset)
    wire.close()


def test_snapshot_files_are_kafkas_format(broker):
    """After a clean stop the partition holds `<20-digit log end offset>.snapshot` in Kafka's
    ProducerStateManager format v1; each producer's last entry is its last batch."""
    b = broker()
    topic = unique_topic("pformat")
    create_topic(b.bootstrap, topic, 1, config={"segment.bytes": str(SEGMENT_BYTES)})
    wire, p1, p2, sent = write_into_sealed_segment(b, topic)
    end = len(wire.records(topic))
    wire.close()
    assert b.stop() == 0
    path = partition_dir(b, topic) / f"{end:020d}.snapshot"
    assert path.exists(), f"no snapshot at the log end {end}: {snapshot_offsets(b, topic)}"
    entries = read_kafka_snapshot(path.read_bytes())
    last = {}
    for entry in entries:
        last[entry["producer_id"]] = entry
    assert last[p1[0]]["epoch"] == p1[1]
    assert (last[p1[0]]["last_sequence"], last[p1[0]]["last_offset"]) == (1, sent["p1-s1"][1])
    assert (last[p2[0]]["last_sequence"], last[p2[0]]["last_offset"]) == (0, sent["p2-s0"][1])
    assert all(e["offset_delta"] == 0 and e["current_txn_first_offset"] == -1 for e in entries)
    assert all(abs(e["timestamp"] - time.time() * 1000) < 600_000 for e in entries)


def read_kafka_snapshot(data):
    """Entries of a producer snapshot, Kafka's ProducerStateManager schema v1: version int16,
    crc uint32 (CRC32C of everything after it), then an array of fixed-size entries."""
    version, crc = struct.unpack_from(">hI", data, 0)
    assert version == SNAPSHOT_VERSION
    assert kafka_wire.crc32c(data[6:]) == crc, "snapshot CRC32C"
    (count,) = struct.unpack_from(">i", data, 6)
    assert len(data) == SNAPSHOT_HEADER_BYTES + count * SNAPSHOT_ENTRY_BYTES
    fields = ("producer_id", "epoch", "last_sequence", "last_offset", "offset_delta", "timestamp",
              "coordinator_epoch", "current_txn_first_offset")
    return [
        dict(zip(fields, struct.unpack_from(">qhiqiqiq", data, SNAPSHOT_HEADER_BYTES + i * SNAPSHOT_ENTRY_BYTES)))
        for i in range(count)
    ]


def test_damaged_snapshot_falls_back_with_a_log_line(broker):
    b = broker()
    topic = unique_topic("pdamage")
    create_topic(b.bootstrap, topic, 1, config={"segment.bytes": str(SEGMENT_BYTES)})
    wire, _, p2, sent = write_into_sealed_segment(b, topic)
    wire.close()
    assert b.stop() == 0
    offsets = snapshot_offsets(b, topic)
    assert len(offsets) >= 2, f"a snapshot at the roll and one at shutdown expected: {offsets}"
    newest = partition_dir(b, topic) / f"{offsets[-1]:020d}.snapshot"
    data = bytearray(newest.read_bytes())
    data[-1] ^= 0xFF
    newest.write_bytes(bytes(data))
    b.start()
    assert logged(b, "falling back"), "a damaged snapshot must be reported"
    # Removed; a fresh snapshot at the same log end may replace it (the rebuild replayed batches).
    assert not newest.exists() or newest.read_bytes() != bytes(data), "the damaged snapshot is removed"
    assert_retries_are_duplicates(b, topic, p2, sent)


def test_past_4096_producers_every_recent_producer_is_deduplicated(broker):
    b = broker()
    topic = unique_topic("pmany")
    create_topic(b.bootstrap, topic, 1)
    wire = Wire(b.bootstrap)
    first = wire.init_producer()
    first_batch = producer_batch(first, 0, "first", value_bytes=SMALL_VALUE_BYTES)
    first_offset = accepted(wire.produce(topic, first_batch))
    for index in range(MANY_PRODUCERS):
        other = producer_batch(wire.init_producer(), 0, f"other-{index}", value_bytes=SMALL_VALUE_BYTES)
        accepted(wire.produce(topic, other))
    assert wire.produce(topic, first_batch) == (kafka_wire.ERROR_NONE, first_offset), (
        f"the first producer wrote moments ago: its retry must not be appended after {MANY_PRODUCERS} others"
    )
    keys = [key for _, key, _ in wire.records(topic)]
    assert keys.count(b"first") == 1
    wire.close()


def test_full_producer_table_refuses_new_producers_and_expired_ones_make_room(broker):
    expiration_ms = 60_000
    b = broker(**{"producer.ids.per.partition.max": 3, "producer.id.expiration.ms": expiration_ms})
    topic = unique_topic("pfull")
    create_topic(b.bootstrap, topic, 1)
    wire = Wire(b.bootstrap)
    long_ago = int(time.time() * 1000) - 10 * expiration_ms
    recent = [wire.init_producer(), wire.init_producer()]
    idle = wire.init_producer()
    batches = [producer_batch(p, 0, f"recent-{i}") for i, p in enumerate(recent)]
    offsets = [accepted(wire.produce(topic, batch)) for batch in batches]
    accepted(wire.produce(topic, producer_batch(idle, 0, "idle", timestamp_ms=long_ago)))
    # The idle producer's last batch is older than producer.id.expiration.ms: it makes room.
    newcomer = wire.init_producer()
    accepted(wire.produce(topic, producer_batch(newcomer, 0, "newcomer")))
    # Now three producers wrote within the expiration time: a fourth one is refused...
    refused = wire.produce(topic, producer_batch(wire.init_producer(), 0, "refused"))
    assert refused[0] == kafka_wire.ERROR_THROTTLING_QUOTA_EXCEEDED, refused
    # ...and nobody lost de-duplication.
    for batch, offset in zip(batches, offsets):
        assert wire.produce(topic, batch) == (kafka_wire.ERROR_NONE, offset)
    keys = [key for _, key, _ in wire.records(topic)]
    assert b"refused" not in keys and keys.count(b"recent-0") == 1
    wire.close()
    assert logged(b, "producer.ids.per.partition.max"), "a refusal must be logged"
