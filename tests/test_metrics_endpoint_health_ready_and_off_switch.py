"""The HTTP endpoint itself: /health and /ready answer 200 on a serving broker, unknown
paths 404 and other methods 405; `http.listener=` (empty) opens no HTTP socket at all; an
address already in use is logged and the broker still serves Kafka. A process held by
SIGSTOP shows up as reactor stalls on every shard.

Which sockets the broker listens on is read from /proc: the socket inodes among the
process's file descriptors, matched against LISTEN entries of /proc/net/tcp.
"""

import http.client
import os
import signal
import socket
import time

from conftest import HOST, free_port

HTTP_TIMEOUT_S = 5.0
READY_DEADLINE_S = 10.0
READY_POLL_INTERVAL_S = 0.05
# Far beyond the 25 ms stall threshold (REACTOR_STALL_THRESHOLD_MS).
STOPPED_FOR_S = 0.3
TCP_LISTEN_STATE = "0A"


def request(port, path, method="GET"):
    connection = http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT_S)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def wait_ready(port):
    """The fixture returns once one shard answers ApiVersions; /ready waits for every shard."""
    deadline = time.monotonic() + READY_DEADLINE_S
    answer = request(port, "/ready")
    while answer[0] != 200:
        assert answer == (503, "not ready\n"), answer
        assert time.monotonic() < deadline, "/ready never answered 200"
        time.sleep(READY_POLL_INTERVAL_S)
        answer = request(port, "/ready")
    return answer


def listening_ports(pid):
    """TCP ports the process `pid` listens on (IPv4)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == TCP_LISTEN_STATE and inode in inodes:
                ports.add(int(local.split(":")[1], 16))
    return ports


def test_health_ready_and_unknown_paths(broker):
    http_port = free_port()
    handle = broker(**{"http.listener": f"{HOST}:{http_port}"})
    assert request(http_port, "/health") == (200, "ok\n")
    assert wait_ready(http_port) == (200, "ready\n")
    assert request(http_port, "/nope")[0] == 404
    assert request(http_port, "/metrics", method="POST")[0] == 405
    assert listening_ports(handle.process.pid) == {handle.port, http_port}


def test_empty_http_listener_turns_the_endpoint_off(broker):
    handle = broker(**{"http.listener": ""})
    # Only the Kafka listener: no HTTP socket on the default port or any other.
    assert listening_ports(handle.process.pid) == {handle.port}
    assert "metrics on http://" not in handle.stderr_tail()


def test_http_address_in_use_is_logged_and_kafka_still_serves(broker):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        # The fixture waits until ApiVersions answers: Kafka serves.
        handle = broker(**{"http.listener": f"{HOST}:{port}"})
        assert "config key http.listener" in handle.stderr_tail()
        assert listening_ports(handle.process.pid) == {handle.port}


def stall_counts(port):
    status, body = request(port, "/metrics")
    assert status == 200
    counts = {}
    for line in body.splitlines():
        if line.startswith("millrace_reactor_stalls_total{"):
            shard = line.split('shard="')[1].split('"')[0]
            counts[shard] = float(line.rsplit(" ", 1)[1])
    return counts


def test_a_stopped_process_shows_up_as_reactor_stalls_on_every_shard(broker):
    http_port = free_port()
    handle = broker(**{"num.shards": 2, "http.listener": f"{HOST}:{http_port}"})
    wait_ready(http_port)
    before = stall_counts(http_port)
    assert set(before) == {"0", "1"}
    # SIGSTOP holds every thread, so each shard's probe timer fires far too late.
    os.kill(handle.process.pid, signal.SIGSTOP)
    try:
        time.sleep(STOPPED_FOR_S)
    finally:
        os.kill(handle.process.pid, signal.SIGCONT)
    deadline = time.monotonic() + READY_DEADLINE_S
    after = stall_counts(http_port)
    while not all(after[shard] > before[shard] for shard in before):
        assert time.monotonic() < deadline, f"stalls before {before}, after {after}"
        time.sleep(READY_POLL_INTERVAL_S)
        after = stall_counts(http_port)
