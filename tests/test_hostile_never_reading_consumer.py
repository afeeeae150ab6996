"""A consumer that pipelines Fetch requests for large batches and never reads its socket.

Its answers fill the socket, the broker's writer stalls, and the broker must then stop reading
that connection's requests (at most `connection.max.inflight.requests` answers and
`connection.max.queued.bytes` queued) instead of buffering answers without bound. Shown by the
receive queue of the broker's end of the socket (/proc/net/tcp): the requests stay unread in the
kernel. Meanwhile a confluent-kafka neighbour keeps producing and consuming, the broker's memory
stays bounded, and the stalled client, once it reads, gets correct answers in order.
"""

import struct
import time

import kafka_wire
from hostile import MIB, MemoryBound, Neighbour, connect_from, unread_bytes_at_broker

QUEUED_LIMIT_BYTES = 4 * MIB
BATCHES = 12
RECORDS_PER_BATCH = 200
VALUE_BYTES = 4000  # 200 x 4000 B = 800 KB a batch, under message.max.bytes
# 372 KB of requests: more than the broker's receive window holds, so some always wait in the
# client's send queue and the count of unread bytes must include them (it once did not, and the
# test failed when a loaded machine autotuned the window smaller).
FETCH_REQUESTS = 4000
FETCH_MAX_BYTES = 32 * MIB
PARTITION_MAX_BYTES = 8 * MIB
CLIENT_RCVBUF_BYTES = 64 * 1024
STALL_OBSERVE_S = 4.0
READ_CHUNK_BYTES = 64 * 1024  # the broker reads ahead at most this much (connection.rs)
RSS_GROWTH_MAX_BYTES = 64 * MIB
ANSWERS_READ_BACK = 3


def fill_topic(bootstrap, topic):
    """BATCHES uncompressed batches in partition 0 (about 10 MB), written with Produce v3. One
    batch is sent again and again: the broker assigns the offsets (and the CRC is computed once)."""
    value = b"v" * VALUE_BYTES
    batch = kafka_wire.encode_record_batch([(None, value)] * RECORDS_PER_BATCH, int(time.time() * 1000))
    with kafka_wire.connect(bootstrap) as sock:
        kafka_wire.ensure_topic(sock, topic)
        for index in range(BATCHES):
            result = kafka_wire.produce_v3(sock, index, topic, {0: batch}, acks=1)
            assert result[0][0] == kafka_wire.ERROR_NONE, result


def fetch_v4_frame(correlation_id, topic):
    body = (
        kafka_wire.int32(-1)  # replica id
        + kafka_wire.int32(0)  # max wait ms
        + kafka_wire.int32(1)  # min bytes
        + kafka_wire.int32(FETCH_MAX_BYTES)
        + struct.pack(">b", 0)
        + kafka_wire.int32(1)
        + kafka_wire.kafka_string(topic)
        + kafka_wire.int32(1)
        + kafka_wire.int32(0)
        + kafka_wire.int64(0)
        + kafka_wire.int32(PARTITION_MAX_BYTES)
    )
    header = kafka_wire.request_header(kafka_wire.API_FETCH, 4, correlation_id)
    return kafka_wire.frame(header + body)


def test_consumer_that_never_reads_is_not_buffered_without_bound(broker):
    b = broker(**{"connection.max.queued.bytes": QUEUED_LIMIT_BYTES})
    neighbour = Neighbour(b.bootstrap)
    big_topic = neighbour.topic + "-big"
    fill_topic(b.bootstrap, big_topic)
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)

    stalled = connect_from(b.bootstrap, "127.0.0.2", rcvbuf_bytes=CLIENT_RCVBUF_BYTES)
    try:
        requests = b"".join(fetch_v4_frame(i, big_topic) for i in range(FETCH_REQUESTS))
        stalled.sendall(requests)
        client_port = stalled.getsockname()[1]
        deadline = time.monotonic() + STALL_OBSERVE_S
        rounds = 0
        while time.monotonic() < deadline:
            neighbour.round_trip(f"stalled-{rounds}")
            memory.check("while the consumer does not read")
            rounds += 1
            time.sleep(0.2)
        unread = unread_bytes_at_broker(b.port, client_port)
        # 64 in flight at most, plus one read-ahead chunk: everything else stays in the kernel.
        assert unread >= len(requests) - READ_CHUNK_BYTES - 64 * len(fetch_v4_frame(0, big_topic)), (
            f"broker read {len(requests) - unread} of {len(requests)} request bytes from a client "
            "that reads none of its answers"
        )
        assert b.alive()

        for correlation_id in range(ANSWERS_READ_BACK):
            response = kafka_wire.read_frame(stalled)
            assert response is not None, "connection closed while the client was slow"
            reader = kafka_wire.Reader(response)
            assert reader.int32() == correlation_id, "answers come in request order"
            records = _single_partition_records(reader)
            # The whole 8 MiB answer arrived; its first batch starts at offset 0 (CRCs are not
            # re-checked here: in pure Python that would take seconds).
            assert len(records) > PARTITION_MAX_BYTES // 2, len(records)
            base_offset, batch_length = struct.unpack_from(">qi", records, 0)
            assert base_offset == 0 and batch_length > RECORDS_PER_BATCH * VALUE_BYTES
        memory.check("after the client read some answers")
    finally:
        stalled.close()
    neighbour.round_trip("after")
    neighbour.close()
    print(memory.summary())


def _single_partition_records(reader):
    reader.int32()  # throttle
    assert reader.int32() == 1
    reader.string()
    assert reader.int32() == 1
    reader.int32()  # partition
    error_code = reader.int16()
    assert error_code == kafka_wire.ERROR_NONE, error_code
    reader.int64()
    reader.int64()
    for _ in range(max(reader.int32(), 0)):
        reader.take(16)
    return reader.nullable_bytes() or b""
