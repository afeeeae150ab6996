"""An acks=0 flood into many partitions whose writes are slow (the test-only fault layer makes
every write of the topic take a second) must keep the broker's memory bounded by the shard's
`log.unwritten.bytes.per.shard.max`, not by partitions x the per-partition bound.

acks=0 requests are answered (with nothing) at the in-memory append, so nothing but the
storage's bound holds the producer back. Each partition stops taking appends at 64 MiB unwritten;
with 8 partitions that allowed about 512 MiB of batches in memory before. Now the shard stops at
32 MiB: the producer's connection is no longer read (back-pressure, no error), its sends block,
and the broker's resident memory stays within a generous bound. At the end the same connection
is still served: an acks=all request on it is answered after everything before it."""

import threading
import time

import kafka_wire
from clients import create_topic, unique_topic
from hostile import MIB, MemoryBound
from test_head_of_line_one_stalled_partition_delays_no_other import send_produce

ALLOW_ENV = "MILLRACE_ALLOW_FAULT_INJECTION"
PARTITIONS = 8
SLOW_WRITE_MS = 1000
SHARD_UNWRITTEN_MAX_BYTES = 32 * MIB
RECENT_PER_PARTITION_BYTES = 1 * MIB
# The shard bound, recent batches, one request frame, allocator slack: far below the old
# partitions x 64 MiB.
RSS_GROWTH_MAX_BYTES = 160 * MIB
FLOOD_S = 15.0
RECORDS_PER_BATCH = 8
VALUE_BYTES = 120_000  # ~1 MB a batch
# Large enough that no segment rolls during the flood (a roll writes everything first, which
# would throttle the flood by itself); preallocation stays at 64 MiB a partition.
SEGMENT_BYTES = 1024 * MIB
FINAL_ANSWER_WITHIN_S = 120.0


def test_acks0_flood_with_slow_writes_keeps_memory_bounded(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    topic = unique_topic("flood")
    b = broker(
        **{
            "num.shards": 1,
            "log.unwritten.bytes.per.shard.max": SHARD_UNWRITTEN_MAX_BYTES,
            "log.recent.bytes.per.partition": RECENT_PER_PARTITION_BYTES,
            "storage.fault.plan": f"slow-write:ms={SLOW_WRITE_MS}:file={topic}-",
        }
    )
    create_topic(b.bootstrap, topic, PARTITIONS, {"segment.bytes": str(SEGMENT_BYTES)})
    batch = kafka_wire.encode_record_batch(
        [(None, bytes([65 + i]) * VALUE_BYTES) for i in range(RECORDS_PER_BATCH)], int(time.time() * 1000)
    )
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)
    flood = Flood(b.bootstrap, topic, batch)
    flood.start()
    deadline = time.monotonic() + FLOOD_S
    while time.monotonic() < deadline and flood.is_alive():
        memory.check(f"after {flood.sent_bytes / MIB:.0f} MiB sent")
        time.sleep(0.2)
    memory.check(f"after {flood.sent_bytes / MIB:.0f} MiB sent")
    flood.stop = True
    flood.join(FINAL_ANSWER_WITHIN_S)
    assert not flood.is_alive(), "the flooding connection was not served again"
    assert flood.error is None, flood.error
    # Everything before the final acks=all request was appended first, in order.
    assert flood.final == (kafka_wire.ERROR_NONE, flood.requests // PARTITIONS * RECORDS_PER_BATCH), flood.final
    print(f"sent {flood.sent_bytes / MIB:.0f} MiB in {flood.requests} acks=0 requests; {memory.summary()}")
    assert b.alive()


class Flood(threading.Thread):
    """Sends acks=0 requests round-robin over the partitions until told to stop, then one
    acks=all request to partition 0 on the same connection, and reads its answer."""

    def __init__(self, bootstrap, topic, batch):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.batch = bootstrap, topic, batch
        self.sent_bytes = 0
        self.requests = 0
        self.stop = False
        self.final = None
        self.error = None

    def run(self):
        try:
            with kafka_wire.connect(self.bootstrap, timeout_s=FINAL_ANSWER_WITHIN_S) as sock:
                # A whole number of rounds, so partition 0's next offset is known.
                while not self.stop or self.requests % PARTITIONS:
                    send_produce(sock, self.requests, self.topic, {self.requests % PARTITIONS: self.batch}, acks=0)
                    self.sent_bytes += len(self.batch)
                    self.requests += 1
                results = kafka_wire.produce_v3(sock, self.requests, self.topic, {0: self.batch}, acks=-1)
                self.final = results[0]
        except Exception as error:  # reported by the test
            self.error = repr(error)
