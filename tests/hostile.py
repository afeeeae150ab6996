"""Helpers shared by the hostile-client tests (tests/test_hostile_*.py).

Each of those tests runs a misbehaving raw-socket client against a real broker while a
well-behaved confluent-kafka producer and consumer (`Neighbour`) keep round-tripping records
beside it, and samples the broker's resident memory (VmRSS from /proc/<pid>/status) against a
stated bound.
"""

import socket
import time

from clients import create_topic, new_consumer, new_producer, read_to_end, unique_topic
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

import kafka_wire

MIB = 1 << 20
NEIGHBOUR_TIMEOUT_S = 30.0


def rss_bytes(pid):
    """Resident set size of a process, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS line for pid {pid}")


class MemoryBound:
    """The broker's RSS must stay under its value at creation plus `growth_bytes_max`."""

    def __init__(self, broker, growth_bytes_max):
        self.pid = broker.process.pid
        self.baseline_bytes = rss_bytes(self.pid)
        self.growth_bytes_max = growth_bytes_max
        self.peak_bytes = self.baseline_bytes

    def check(self, context=""):
        now = rss_bytes(self.pid)
        self.peak_bytes = max(self.peak_bytes, now)
        limit = self.baseline_bytes + self.growth_bytes_max
        assert now <= limit, (
            f"broker RSS {now / MIB:.1f} MiB over the bound {limit / MIB:.1f} MiB "
            f"(baseline {self.baseline_bytes / MIB:.1f} MiB + {self.growth_bytes_max / MIB:.0f} MiB) {context}"
        )
        return now

    def summary(self):
        return (
            f"RSS baseline {self.baseline_bytes / MIB:.1f} MiB, peak {self.peak_bytes / MIB:.1f} MiB, "
            f"bound +{self.growth_bytes_max / MIB:.0f} MiB"
        )


class Neighbour:
    """A well-behaved confluent-kafka producer (acks=all) and consumer on one partition."""

    def __init__(self, bootstrap, topic=None):
        self.topic = topic or unique_topic("neighbour")
        create_topic(bootstrap, self.topic, 1)
        self.producer = new_producer(bootstrap, acks="all")
        self.consumer = new_consumer(bootstrap)
        self.consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        self.expected = []
        self.round_trip("start")

    def round_trip(self, tag):
        """Produce one message and consume up to it; everything so far arrives in order."""
        reports = []
        value = f"neighbour-{tag}-{len(self.expected)}".encode()
        self.producer.produce(self.topic, value=value, partition=0, on_delivery=lambda e, m: reports.append(e))
        assert self.producer.flush(NEIGHBOUR_TIMEOUT_S) == 0 and reports == [None], (
            f"neighbour produce failed: {reports}"
        )
        self.expected.append(value)
        got = [v for _, _, v in read_to_end(self.consumer, self.topic, 1, timeout_s=NEIGHBOUR_TIMEOUT_S)[0]]
        assert got and got == self.expected[-len(got):], f"neighbour consumed {got[-3:]}"

    def close(self):
        self.consumer.close()


def connect_from(bootstrap, source_ip, timeout_s=kafka_wire.SOCKET_TIMEOUT_S, rcvbuf_bytes=None):
    """A raw connection from a chosen loopback source address (127.0.0.0/8 is all local), so a
    test can flood from one address while the neighbour connects from 127.0.0.1."""
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf_bytes is not None:
        # Before connect, so the advertised window is small from the start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf_bytes)
    sock.bind((source_ip, 0))
    sock.settimeout(timeout_s)
    sock.connect((host, int(port)))
    return sock


def is_served(sock, correlation_id=1):
    """True if an ApiVersions request on `sock` is answered; False if the broker closed it."""
    try:
        error_code, _ = kafka_wire.api_versions_v0(sock, correlation_id=correlation_id)
        return error_code == kafka_wire.ERROR_NONE
    except (ConnectionError, OSError):
        return False


def socket_queues(local_port, remote_port):
    """(tx_queue, rx_queue) bytes of the loopback TCP socket local_port -> remote_port, from
    /proc/net/tcp: tx = written by its owner and not yet acknowledged by the peer, rx = received
    and not yet read by its owner."""
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == local_port and int(fields[2].split(":")[1], 16) == remote_port:
                tx_queue, rx_queue = fields[4].split(":")
                return int(tx_queue, 16), int(rx_queue, 16)
    raise AssertionError(f"no socket {local_port} -> {remote_port} in /proc/net/tcp")


def unread_bytes_at_broker(broker_port, client_port):
    """Bytes the client wrote that the broker has not read yet: those in the broker's receive
    queue, plus those still in the client's send queue (the broker's receive window is full, or
    they are in flight). The broker's queue alone undercounts by however many bytes its receive
    window (autotuned, so it varies with load) left on the client's side."""
    in_broker_queue = socket_queues(broker_port, client_port)[1]
    not_yet_acknowledged = socket_queues(client_port, broker_port)[0]
    return in_broker_queue + not_yet_acknowledged


def wait_until(predicate, timeout_s, interval_s=0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
