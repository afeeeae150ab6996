"""A producer that pipelines Produce requests and never reads the answers.

The answers fill the socket, the broker's writer stalls, and from then on the broker reads that
connection's requests only while fewer than `connection.max.queued.bytes` of requests and
answers are queued in it. `connection.max.inflight.requests` is set high (4096) so that the byte
bound, not the count, is what stops the reading. Measured from the kernel's socket queues
(/proc/net/tcp): bytes the broker read = bytes sent - the client's send queue - the broker's
receive queue; answers it wrote = the broker's send queue + the client's receive queue. What the broker read and has not
answered is what it holds, and it must stay under the byte bound plus one read-ahead chunk.

Then the client reads: every answer arrives, in order, without error, with dense offsets; a
confluent-kafka neighbour works throughout and the broker's memory stays bounded.
"""

import select
import socket
import struct
import time

import kafka_wire
from hostile import MIB, MemoryBound, Neighbour, connect_from, socket_queues

QUEUED_LIMIT_BYTES = 128 * 1024
INFLIGHT_REQUESTS = 4096
REQUESTS = 90_000
RECORDS_PER_BATCH = 1
CLIENT_RCVBUF_BYTES = 4096
STALL_QUIET_S = 1.5
SEND_PHASE_MAX_S = 20.0  # well under the broker's 30 s send stall limit (send.rs)
READ_CHUNK_BYTES = 64 * 1024  # the broker reads ahead at most this much (connection.rs)
RSS_GROWTH_MAX_BYTES = 64 * MIB


def produce_frames(topic):
    """REQUESTS Produce v3 frames (acks=1), identical but for the correlation id."""
    batch = kafka_wire.encode_record_batch([(None, b"p" * 40)] * RECORDS_PER_BATCH, int(time.time() * 1000))
    body = (
        kafka_wire.kafka_string(None)
        + kafka_wire.int16(1)
        + kafka_wire.int32(10000)
        + kafka_wire.int32(1)
        + kafka_wire.kafka_string(topic)
        + kafka_wire.int32(1)
        + kafka_wire.int32(0)
        + kafka_wire.kafka_bytes(batch)
    )
    template = kafka_wire.frame(kafka_wire.request_header(kafka_wire.API_PRODUCE, 3, 0) + body)
    # The correlation id sits after size (4), api key (2) and version (2).
    frames = bytearray(template * REQUESTS)
    for index in range(REQUESTS):
        struct.pack_into(">i", frames, index * len(template) + 8, index)
    return bytes(frames), len(template)


def send_until_stalled(sock, data):
    """Sends until the broker stops taking bytes for STALL_QUIET_S; returns the bytes sent."""
    sock.setblocking(False)
    sent = 0
    last_progress = time.monotonic()
    deadline = last_progress + SEND_PHASE_MAX_S
    while sent < len(data) and time.monotonic() - last_progress < STALL_QUIET_S:
        assert time.monotonic() < deadline, "the broker never stopped reading"
        _, writable, _ = select.select([], [sock], [], 0.1)
        if writable:
            try:
                n = sock.send(data[sent:sent + (1 << 20)])
            except BlockingIOError:
                n = 0
            if n:
                sent += n
                last_progress = time.monotonic()
    return sent


def read_all_answers(sock, data, sent, expected):
    """Reads `expected` answers while sending the rest of `data`; returns them."""
    answers = []
    buffer = bytearray()
    deadline = time.monotonic() + 60
    while len(answers) < expected:
        assert time.monotonic() < deadline, f"only {len(answers)} of {expected} answers"
        want_write = [sock] if sent < len(data) else []
        readable, writable, _ = select.select([sock], want_write, [], 1.0)
        if writable:
            try:
                sent += sock.send(data[sent:sent + (1 << 20)])
            except BlockingIOError:
                pass
        if readable:
            chunk = sock.recv(1 << 20)
            assert chunk, f"broker closed the connection after {len(answers)} answers"
            buffer += chunk
            answers.extend(_take_frames(buffer))
    return answers


def _take_frames(buffer):
    frames = []
    pos = 0
    while len(buffer) - pos >= 4:
        (size,) = struct.unpack_from(">i", buffer, pos)
        if len(buffer) - pos - 4 < size:
            break
        frames.append(bytes(buffer[pos + 4:pos + 4 + size]))
        pos += 4 + size
    del buffer[:pos]
    return frames


def test_producer_that_never_reads_answers_is_bounded_by_queued_bytes(broker):
    b = broker(
        **{
            "connection.max.queued.bytes": QUEUED_LIMIT_BYTES,
            "connection.max.inflight.requests": INFLIGHT_REQUESTS,
        }
    )
    neighbour = Neighbour(b.bootstrap)
    topic = neighbour.topic + "-pipelined"
    data, request_bytes = produce_frames(topic)
    with kafka_wire.connect(b.bootstrap) as sock:  # create the topic before the flood of requests
        kafka_wire.ensure_topic(sock, topic)
        kafka_wire.produce_v3(sock, 1, topic, {0: kafka_wire.encode_record_batch([(None, b"x")], 0)}, acks=1)
    memory = MemoryBound(b, RSS_GROWTH_MAX_BYTES)

    pipelined = connect_from(b.bootstrap, "127.0.0.2", rcvbuf_bytes=CLIENT_RCVBUF_BYTES)
    try:
        client_port = pipelined.getsockname()[1]
        sent = send_until_stalled(pipelined, data)
        assert sent < len(data), "every request was taken although no answer was read"
        broker_tx, broker_rx = socket_queues(b.port, client_port)
        client_tx, client_rx = socket_queues(client_port, b.port)
        neighbour.round_trip("while-stalled")
        memory.check("while the producer does not read")
        time.sleep(0.5)
        assert socket_queues(b.port, client_port)[1] == broker_rx, "the broker is not reading"

        answers = read_all_answers(pipelined, data, sent, REQUESTS)
        answer_bytes = 4 + len(answers[0])
        read_by_broker = sent - client_tx - broker_rx
        answered_bytes = broker_tx + client_rx
        held = read_by_broker - (answered_bytes // answer_bytes) * request_bytes
        assert held <= QUEUED_LIMIT_BYTES + READ_CHUNK_BYTES + 2 * request_bytes, (
            f"the broker held {held} bytes of unanswered requests, bound {QUEUED_LIMIT_BYTES}"
        )
        _check_answers(answers)
        memory.check("after all answers")
    finally:
        pipelined.close()
    neighbour.round_trip("after")
    neighbour.close()
    print(f"sent {sent} of {len(data)} before the stall; held {held} bytes; {memory.summary()}")


def _check_answers(answers):
    previous_base = None
    for index, answer in enumerate(answers):
        reader = kafka_wire.Reader(answer)
        assert reader.int32() == index, "answers in request order"
        assert reader.int32() == 1
        reader.string()
        assert reader.int32() == 1
        assert reader.int32() == 0
        error_code = reader.int16()
        assert error_code == kafka_wire.ERROR_NONE, f"request {index}: error {error_code}"
        base_offset = reader.int64()
        if previous_base is not None:
            assert base_offset == previous_base + RECORDS_PER_BATCH, f"request {index}: offset {base_offset}"
        previous_base = base_offset
