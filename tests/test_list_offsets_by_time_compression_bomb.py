"""ListOffsets by timestamp over a compression bomb (issue 10, item 8). A 16 KB zstd batch whose
first record inflates to 512 MiB is produced once. offsetsForTimes must neither inflate it in the
broker's memory nor change the answers: they are Kafka's (FileRecords.searchForTimestamp: the
first batch whose maxTimestamp reaches the target, then its first record at or after the target;
Partition.fetchOffsetForTimestamp: no offset at or past the high watermark).

The frame is built by hand from zstd's RLE blocks (RFC 8878): a run of zeros costs 4 bytes per
128 KiB. cramjam (installed for aiokafka) checks a small one decodes as meant."""

import cramjam

import kafka_wire
from clients import create_topic, unique_topic

T0_MS = 1_700_000_000_000
BOMB_VALUE_BYTES = 512 << 20
PEAK_RSS_GROWTH_MAX = 128 << 20
CODEC_ZSTD = 4
QUERY_TIMEOUT_S = 60.0

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_FRAME_HEADER = b"\x00"  # no content size, no checksum, no dictionary; window descriptor follows
ZSTD_WINDOW_128_KIB = bytes([(17 - 10) << 3])  # window log 17
ZSTD_BLOCK_MAX = 128 << 10
ZSTD_RAW, ZSTD_RLE = 0, 1


def zstd_block(kind, size, content, last):
    header = (size << 3) | (kind << 1) | int(last)
    return header.to_bytes(3, "little") + content


def zstd_frame(parts):
    """A zstd frame of ("raw", bytes) and ("zeros", count) parts, in order."""
    blocks = []
    for kind, value in parts:
        if kind == "raw":
            for start in range(0, len(value), ZSTD_BLOCK_MAX):
                chunk = value[start : start + ZSTD_BLOCK_MAX]
                blocks.append((ZSTD_RAW, len(chunk), chunk))
        else:
            for start in range(0, value, ZSTD_BLOCK_MAX):
                blocks.append((ZSTD_RLE, min(ZSTD_BLOCK_MAX, value - start), b"\x00"))
    encoded = [zstd_block(kind, size, content, i == len(blocks) - 1) for i, (kind, size, content) in enumerate(blocks)]
    return ZSTD_MAGIC + ZSTD_FRAME_HEADER + ZSTD_WINDOW_128_KIB + b"".join(encoded)


def bomb_parts(value_bytes):
    """Record 0 (timestamp T0) holds `value_bytes` zeros; record 1 (T0+10) follows it."""
    varint = kafka_wire.varint
    head = b"\x00" + varint(0) + varint(0) + varint(-1) + varint(value_bytes)
    tail = varint(0)  # no headers
    record_0_prefix = varint(len(head) + value_bytes + len(tail)) + head
    record_1 = kafka_wire.encode_record(1, 10, None, b"after-the-bomb")
    return [("raw", record_0_prefix), ("zeros", value_bytes), ("raw", tail + record_1)]


def plain_records_section(parts):
    return b"".join(value if kind == "raw" else b"\x00" * value for kind, value in parts)


def bomb_batch():
    frame = zstd_frame(bomb_parts(BOMB_VALUE_BYTES))
    return kafka_wire.encode_batch_around(frame, 2, T0_MS, T0_MS + 10, codec=CODEC_ZSTD)


def plain_batch():
    """Offsets 2, 3, 4 at T0+20, T0+21, T0+22."""
    records = b"".join(kafka_wire.encode_record(i, i, None, f"plain-{i}".encode()) for i in range(3))
    return kafka_wire.encode_batch_around(records, 3, T0_MS + 20, T0_MS + 22)


def peak_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_handmade_zstd_frame_decodes_as_meant():
    parts = bomb_parts(300_000)
    assert bytes(cramjam.zstd.decompress(zstd_frame(parts))) == plain_records_section(parts)


def test_offsets_for_times_over_a_compression_bomb(broker):
    b = broker(**{"num.shards": 1})
    topic = unique_topic("bomb")
    create_topic(b.bootstrap, topic, 1)
    with kafka_wire.connect(b.bootstrap, timeout_s=QUERY_TIMEOUT_S) as sock:
        bomb = bomb_batch()
        assert len(bomb) < 20_000
        assert kafka_wire.produce_v3(sock, 1, topic, {0: bomb}) == {0: (0, 0)}
        assert kafka_wire.produce_v3(sock, 2, topic, {0: plain_batch()}) == {0: (0, 2)}

        peak_before = peak_rss_bytes(b.process.pid)
        # (target time, Kafka's answer as (timestamp, offset)).
        expected = [
            (T0_MS - 1000, (T0_MS, 0)),
            (T0_MS, (T0_MS, 0)),
            # Kafka walks past the 512 MiB record to record 1.
            (T0_MS + 5, (T0_MS + 10, 1)),
            (T0_MS + 10, (T0_MS + 10, 1)),
            (T0_MS + 11, (T0_MS + 20, 2)),
            (T0_MS + 21, (T0_MS + 21, 3)),
            (T0_MS + 22, (T0_MS + 22, 4)),
            (T0_MS + 23, (-1, -1)),
            (-1, (-1, 5)),  # latest
            (-2, (-1, 0)),  # earliest
        ]
        for correlation_id, (target, answer) in enumerate(expected, start=10):
            got = kafka_wire.list_offsets_v1(sock, correlation_id, topic, {0: target})[0]
            assert got == (0, *answer), f"time {target}: got (error, timestamp, offset) {got}"
        growth = peak_rss_bytes(b.process.pid) - peak_before
        assert growth < PEAK_RSS_GROWTH_MAX, f"peak RSS grew {growth >> 20} MiB answering offsetsForTimes"
    assert b.alive()
