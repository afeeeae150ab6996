"""The broker's memory for recent batches stays near `log.recent.bytes.per.shard.max` when one
Produce request carries batches of many partitions.

Each request holds one ~960 KB batch for one of 10 busy partitions and a ~140-byte batch for
each of 190 quiet ones (one request per busy batch, as Kafka's Java client and kafka-python
build them). A quiet partition keeps its small batches for a long time; if each of them kept its
whole ~1 MB request buffer alive, the broker would hold every request sent (about 390 MB here)
behind a budget that counts only a few MB. With a 16 MiB shard bound the broker's resident
memory must grow by a few tens of MB at most, and the quiet partitions' recent batches must
still read back intact.

The second case writes 400 partitions past `log.recent.bytes.per.partition.min`: their floors
together must not hold the shard past its bound.
"""

import shutil
import time

import kafka_wire
from clients import create_topic, unique_topic

PARTITIONS = 200
BUSY_PARTITIONS = 10
REQUESTS = 400
BUSY_RECORDS = 15
BUSY_VALUE_BYTES = 64_000
QUIET_VALUE_BYTES = 64
SHARD_RECENT_MAX_BYTES = 16 << 20
PARTITION_RECENT_MIN_BYTES = 32 << 10
# What the broker may grow beyond the shard bound: per-partition header arena blocks
# (64 KiB, up to two per partition), connection buffers, indexes, allocator slack.
RSS_GROWTH_ALLOWED_BYTES = SHARD_RECENT_MAX_BYTES + (40 << 20)
RSS_SAMPLE_EVERY_REQUESTS = 25
ACKS_LEADER = 1
# Small segments: each active segment is preallocated up to 64 MiB ahead, and 200 of those
# would take 12.5 GiB of a disk shared with other tests.
SEGMENT_BYTES = 2 << 20
# Bound on the wait for the last acks=1 batch to become visible (fsynced).
VISIBLE_WAIT_S = 30


def resident_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def quiet_value(request):
    return f"quiet-{request:06d}-".encode().ljust(QUIET_VALUE_BYTES, b".")


def request_batches(request, busy_batch, timestamp_ms):
    batches = {request % BUSY_PARTITIONS: busy_batch}
    quiet_batch = kafka_wire.encode_record_batch([(None, quiet_value(request))], timestamp_ms)
    for partition in range(BUSY_PARTITIONS, PARTITIONS):
        batches[partition] = quiet_batch
    return batches


def start_with_topic(broker, shard_recent_max_bytes, partition_recent_min_bytes, prefix, partitions):
    """A one-shard broker with these recent bounds, and a topic of `partitions` small-segment
    partitions on it: (broker, topic)."""
    b = broker(
        **{
            "num.shards": 1,
            "log.recent.bytes.per.shard.max": shard_recent_max_bytes,
            "log.recent.bytes.per.partition.min": partition_recent_min_bytes,
        }
    )
    topic = unique_topic(prefix)
    create_topic(b.bootstrap, topic, partitions, config={"segment.bytes": str(SEGMENT_BYTES)})
    return b, topic


def test_many_partition_requests_do_not_pin_their_buffers(broker):
    b, topic = start_with_topic(broker, SHARD_RECENT_MAX_BYTES, PARTITION_RECENT_MIN_BYTES, "pinned", PARTITIONS)
    now_ms = int(time.time() * 1000)
    busy_batch = kafka_wire.encode_record_batch(
        [(None, bytes([i]) * BUSY_VALUE_BYTES) for i in range(BUSY_RECORDS)], now_ms
    )
    pid = b.process.pid
    with kafka_wire.connect(b.bootstrap) as sock:
        # One small request first, so the baseline includes every partition's first state.
        first = kafka_wire.produce_v3(
            sock, 1, topic, {p: kafka_wire.encode_record_batch([(None, b"x")], now_ms) for p in range(PARTITIONS)}
        )
        assert all(code == 0 for code, _ in first.values()), first
        baseline = resident_bytes(pid)
        peak_growth = 0
        for request in range(REQUESTS):
            batches = request_batches(request, busy_batch, now_ms)
            results = kafka_wire.produce_v3(sock, 2 + request, topic, batches, acks=ACKS_LEADER)
            bad = {p: code for p, (code, _) in results.items() if code != 0}
            assert not bad and len(results) == len(batches), f"request {request}: errors {bad}"
            if request % RSS_SAMPLE_EVERY_REQUESTS == 0 or request == REQUESTS - 1:
                peak_growth = max(peak_growth, resident_bytes(pid) - baseline)
        sent_bytes = REQUESTS * (len(busy_batch) + (PARTITIONS - BUSY_PARTITIONS) * 150)
        print(f"baseline RSS {baseline >> 20} MiB, peak growth {peak_growth >> 20} MiB, sent ~{sent_bytes >> 20} MiB")
        assert peak_growth <= RSS_GROWTH_ALLOWED_BYTES, (
            f"broker RSS grew by {peak_growth >> 20} MiB while producing ~{sent_bytes >> 20} MiB "
            f"with log.recent.bytes.per.shard.max = {SHARD_RECENT_MAX_BYTES >> 20} MiB"
        )
        # The quiet partitions' newest batches (in memory, copied) read back intact.
        # acks=1 records become visible once fsynced (log.flush.visibility.ms): wait for the last.
        last = PARTITIONS - 1
        deadline = time.monotonic() + VISIBLE_WAIT_S
        while True:
            fetched = kafka_wire.fetch_v4(sock, 9999, topic, {last: REQUESTS - 5})
            error_code, high_watermark, records = fetched[last]
            if error_code != 0 or high_watermark == REQUESTS + 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert error_code == 0 and high_watermark == REQUESTS + 1
        values = [value for _, _, value in kafka_wire.decode_record_batches(records)]
        assert values[-5:] == [quiet_value(r) for r in range(REQUESTS - 5, REQUESTS)]
    # ~400 MB of segments: not left behind for pytest's kept temporary directories.
    b.kill()
    shutil.rmtree(b.data_dir, ignore_errors=True)


# Many partitions, each written past `log.recent.bytes.per.partition.min`: the shard bound holds
# whatever the partition count (the per-partition floor shrinks so that all floors fit in half
# the bound, and cold partitions are evicted to nothing). With a fixed 256 KiB floor on each of
# 400 partitions the broker kept ~100 MiB under an 8 MiB bound.
MANY_PARTITIONS = 400
MANY_PARTITIONS_PER_REQUEST = 100
MANY_BATCHES_PER_PARTITION = 24
MANY_VALUE_BYTES = 16_000
MANY_SHARD_RECENT_MAX_BYTES = 8 << 20
MANY_PARTITION_RECENT_MIN_BYTES = 256 << 10
# Beyond the bound: each partition's batches over its active segment's partial last block (at
# most a 4 KiB block and a ~16 KB batch: ~8 MiB here), connection buffers, allocator slack.
MANY_RSS_GROWTH_ALLOWED_BYTES = MANY_SHARD_RECENT_MAX_BYTES + (40 << 20)
MANY_READ_BACK_PARTITIONS = (0, MANY_PARTITIONS // 2, MANY_PARTITIONS - 1)


def many_value(batch):
    """The value of every partition's batch number `batch` (one encoding, and one pure-Python
    CRC, per batch number)."""
    return f"batch-{batch:03d}-".encode().ljust(MANY_VALUE_BYTES, b"#")


def read_partition(sock, topic, partition, end_offset):
    """Every value of the partition from offset 0 to end_offset, waiting for acks=1 visibility."""
    values, offset = [], 0
    deadline = time.monotonic() + VISIBLE_WAIT_S
    while offset < end_offset and time.monotonic() < deadline:
        error_code, _, records = kafka_wire.fetch_v4(sock, 7000 + partition, topic, {partition: offset})[partition]
        assert error_code == 0, f"partition {partition}: fetch error {error_code}"
        decoded = [(o, v) for o, _, v in kafka_wire.decode_record_batches(records) if o >= offset]
        values.extend(v for _, v in decoded)
        offset = decoded[-1][0] + 1 if decoded else offset
    return values


def test_many_partitions_keep_recent_batches_within_the_shard_bound(broker):
    b, topic = start_with_topic(
        broker, MANY_SHARD_RECENT_MAX_BYTES, MANY_PARTITION_RECENT_MIN_BYTES, "many-recent", MANY_PARTITIONS
    )
    now_ms = int(time.time() * 1000)
    pid = b.process.pid
    correlation_id = 1
    with kafka_wire.connect(b.bootstrap) as sock:
        first = {p: kafka_wire.encode_record_batch([(None, b"x")], now_ms) for p in range(MANY_PARTITIONS)}
        assert all(code == 0 for code, _ in kafka_wire.produce_v3(sock, correlation_id, topic, first).values())
        baseline = resident_bytes(pid)
        peak_growth = 0
        for batch in range(MANY_BATCHES_PER_PARTITION):
            encoded = kafka_wire.encode_record_batch([(None, many_value(batch))], now_ms)
            for start in range(0, MANY_PARTITIONS, MANY_PARTITIONS_PER_REQUEST):
                correlation_id += 1
                batches = {p: encoded for p in range(start, start + MANY_PARTITIONS_PER_REQUEST)}
                results = kafka_wire.produce_v3(sock, correlation_id, topic, batches, acks=ACKS_LEADER)
                bad = {p: code for p, (code, _) in results.items() if code != 0}
                assert not bad and len(results) == len(batches), f"batch {batch}: errors {bad}"
            peak_growth = max(peak_growth, resident_bytes(pid) - baseline)
        sent_bytes = MANY_PARTITIONS * MANY_BATCHES_PER_PARTITION * MANY_VALUE_BYTES
        print(f"baseline RSS {baseline >> 20} MiB, peak growth {peak_growth >> 20} MiB, sent ~{sent_bytes >> 20} MiB")
        assert peak_growth <= MANY_RSS_GROWTH_ALLOWED_BYTES, (
            f"broker RSS grew by {peak_growth >> 20} MiB over {MANY_PARTITIONS} partitions "
            f"with log.recent.bytes.per.shard.max = {MANY_SHARD_RECENT_MAX_BYTES >> 20} MiB"
        )
        # Evicted batches read back from the segments, the newest from memory.
        for partition in MANY_READ_BACK_PARTITIONS:
            values = read_partition(sock, topic, partition, MANY_BATCHES_PER_PARTITION + 1)
            assert values == [b"x"] + [many_value(i) for i in range(MANY_BATCHES_PER_PARTITION)]
    b.kill()
    shutil.rmtree(b.data_dir, ignore_errors=True)
