"""Bad bytes on one connection: a garbage frame, a negative size, a size over
socket.request.max.bytes, a truncated frame, an unknown API key. Each such connection is
closed, and clients connected beside it keep producing and consuming."""

import socket
import struct

import pytest

import kafka_wire
from clients import create_topic, new_consumer, new_producer, read_to_end, unique_topic
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

REQUEST_MAX_BYTES = 1 << 20
CLOSE_TIMEOUT_S = 5.0
CONNECTIONS_PER_CASE = 4  # connections spread over shards by SO_REUSEPORT; hit them all


def garbage_frame():
    # A plausible size, then a header whose api key is -1 and whose client id length is absurd.
    return struct.pack(">i", 16) + b"\xff" * 16


def http_request():
    # "GET " read as a size prefix is about 1.2 GB: over any request limit.
    return b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def negative_size():
    return struct.pack(">i", -5) + b"\x00" * 8


def over_limit():
    # Only the prefix and a few bytes are sent: the broker must refuse before buffering.
    return struct.pack(">i", REQUEST_MAX_BYTES + 1) + b"\x00" * 64


def truncated_frame():
    return struct.pack(">i", 100) + kafka_wire.request_header(kafka_wire.API_METADATA, 1, 7)[:10]


def unknown_api_key():
    return kafka_wire.frame(kafka_wire.request_header(9999, 0, 42))


BAD_INPUTS = {
    "garbage-frame": garbage_frame,
    "http-request": http_request,
    "negative-size": negative_size,
    "size-over-limit": over_limit,
    "truncated-frame": truncated_frame,
    "unknown-api-key": unknown_api_key,
}


@pytest.fixture
def broker_with_neighbour(broker):
    """A broker with a 1 MiB request limit, and a producer and consumer already connected."""
    b = broker(**{"socket.request.max.bytes": REQUEST_MAX_BYTES})
    topic = unique_topic("neighbour")
    create_topic(b.bootstrap, topic, 1)
    producer = new_producer(b.bootstrap, acks="all")
    consumer = new_consumer(b.bootstrap)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    neighbour = Neighbour(producer, consumer, topic)
    neighbour.round_trip("before")
    yield b, neighbour
    consumer.close()


class Neighbour:
    def __init__(self, producer, consumer, topic):
        self.producer = producer
        self.consumer = consumer
        self.topic = topic
        self.expected = []

    def round_trip(self, tag):
        """Produce one message and consume up to it; everything so far arrives exactly once."""
        reports = []
        value = f"neighbour-{tag}-{len(self.expected)}".encode()
        self.producer.produce(self.topic, value=value, partition=0, on_delivery=lambda e, m: reports.append(e))
        assert self.producer.flush(30) == 0 and reports == [None], f"neighbour produce failed: {reports}"
        self.expected.append(value)
        got = [v for _, _, v in read_to_end(self.consumer, self.topic, 1, timeout_s=30)[0]]
        assert got == self.expected[-len(got):] and got, f"neighbour consumed {got}"
        assert got[-1] == value


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_closes_connection_and_neighbour_keeps_working(broker_with_neighbour, case):
    b, neighbour = broker_with_neighbour
    for attempt in range(CONNECTIONS_PER_CASE):
        with kafka_wire.connect(b.bootstrap) as sock:
            sock.sendall(BAD_INPUTS[case]())
            if case == "truncated-frame":
                sock.shutdown(socket.SHUT_WR)  # the peer sees end-of-stream mid-frame
            assert kafka_wire.wait_closed(sock, CLOSE_TIMEOUT_S), (
                f"{case}: connection {attempt} still open after {CLOSE_TIMEOUT_S}s"
            )
        assert b.alive(), f"broker died on {case}\n{b.stderr_tail()}"
        neighbour.round_trip(f"{case}-{attempt}")

    with kafka_wire.connect(b.bootstrap) as sock:
        error_code, _ = kafka_wire.api_versions_v0(sock)
        assert error_code == kafka_wire.ERROR_NONE, "a fresh connection is served normally"
