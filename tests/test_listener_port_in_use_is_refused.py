"""A second broker on a listener port in use is refused at start, as Kafka refuses it.

Every shard binds its listeners with SO_REUSEPORT (glommio sets it), and the kernel lets any
process of the same user join such a port: a second `millrace serve` on the same `listeners`
port (a copied server.properties with only log.dirs changed) used to start, and the kernel then
split new connections between the two processes, so clients of the first broker landed on the
second at random. Kafka exits with "Address already in use"; millrace now exits 1 naming the
listener and its address, and the first broker keeps every connection. The same holds for a
voter's CONTROLLER listener in a cluster.

A broker restarted at once on its own port is not refused: the connections it closed at
shutdown wait in TIME_WAIT on that port, and they hold no listener. (After a kill -9 its
listeners outlive the process by some tens of milliseconds, until the kernel tears down its
io_uring: a listener seen is waited for up to 5 s before the start is refused, and
test_data_dir_refuses_a_second_broker.py restarts one at once after kill -9.)
"""

import errno
import socket
import subprocess
import time

import pytest

import clients
import kafka_wire
from cluster_fixture import ClusterNode, kraft_properties
from conftest import HOST, free_port
from test_startup_bounded_and_open_files_checked import serve_command

# A refusal comes before recovery or any listener, once the listener seen stayed for 5 s
# (listen_probe::DEPARTING_LISTENER_WAIT_MS_MAX); the rest is room for a loaded machine.
EXIT_DEADLINE_S = 15.0
EXIT_POLL_INTERVAL_S = 0.05
# Fresh connections to the first broker, each one its own TCP connection (a new source port, so
# SO_REUSEPORT would hash each one anew): all must reach the first broker.
FRESH_CONNECTIONS = 20
EXIT_REFUSED = 1
# /proc/net/tcp{,6} state of a TIME_WAIT socket.
TCP_STATE_TIME_WAIT = "06"


def wait_exit(process, timeout_s=EXIT_DEADLINE_S):
    """The exit code, or None if the process still runs after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return process.returncode
        time.sleep(EXIT_POLL_INTERVAL_S)
    return process.poll()


def answered_by_first(bootstrap, topic):
    """How many of FRESH_CONNECTIONS new connections to `bootstrap` know `topic` (only the first
    broker has it; the second would answer UNKNOWN_TOPIC_OR_PARTITION)."""
    known = 0
    for attempt in range(FRESH_CONNECTIONS):
        with kafka_wire.connect(bootstrap) as sock:
            error_code, partitions = kafka_wire.metadata_v4_partitions(
                sock, attempt + 1, topic, allow_auto_create=False)
        known += error_code == kafka_wire.ERROR_NONE and partitions > 0
    return known


def test_a_second_broker_on_a_client_port_in_use_exits_naming_it(broker, tmp_path):
    first = broker(**{"num.shards": 2})
    topic = clients.unique_topic("port-in-use")
    clients.create_topic(first.bootstrap, topic, 1)

    second_dir = tmp_path / "second" / "data"
    second_dir.mkdir(parents=True)
    log_path = tmp_path / "second" / "stderr.log"
    cmd = serve_command(second_dir, first.port, **{"num.shards": "2"})
    with open(log_path, "wb") as log:
        second = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        code = wait_exit(second)
        # Asked while the second one may still run: with it listening beside the first, some of
        # these land on it.
        known = answered_by_first(first.bootstrap, topic)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    log = log_path.read_text(errors="replace")

    assert known == FRESH_CONNECTIONS, (
        f"only {known} of {FRESH_CONNECTIONS} fresh connections reached the first broker "
        f"(second broker exit code {code})\n{log[-3000:]}")
    assert code is not None, f"the second broker is still running after {EXIT_DEADLINE_S}s\n{log[-3000:]}"
    assert code == EXIT_REFUSED, log[-3000:]
    assert f"{HOST}:{first.port}" in log and "listener PLAINTEXT" in log, log[-3000:]
    assert "in use" in log.lower(), log[-3000:]
    assert first.alive(), "the first broker must keep running"
    assert answered_by_first(first.bootstrap, topic) == FRESH_CONNECTIONS


def test_a_copy_of_a_voter_on_its_controller_port_exits_naming_it(millrace_cluster):
    # Two voters: a quorum of one node is no cluster and binds no CONTROLLER listener.
    cluster = millrace_cluster(brokers=2)
    voter = cluster.node(1)
    # An operator's copy of node 1's file: its own log.dirs and client port, the same
    # CONTROLLER listener.
    copy_dir = cluster.directory / "copy-of-1"
    data_dir = copy_dir / "data"
    data_dir.mkdir(parents=True)
    config_file = copy_dir / "server.properties"
    client_port = free_port()
    config_file.write_text(kraft_properties(
        1, voter.roles, client_port, voter.controller_port, cluster.voters, data_dir))
    copy = ClusterNode(1, voter.roles, config_file, client_port, voter.controller_port, data_dir)
    cluster.strangers.append(copy)
    cluster.registry.append(copy)
    copy.launch()

    code = wait_exit(copy.process)
    log = copy.stderr_tail()
    assert code is not None, f"the copy is still running after {EXIT_DEADLINE_S}s\n{log}"
    assert code == EXIT_REFUSED, log
    assert f"{HOST}:{voter.controller_port}" in log and "listener CONTROLLER" in log, log
    assert "in use" in log.lower(), log
    assert voter.alive() and cluster.node(2).alive()


def time_wait_sockets_on(port):
    """Sockets in TIME_WAIT whose local port is `port`."""
    found = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                found += local_port == port and fields[3] == TCP_STATE_TIME_WAIT
    return found


def test_a_restart_on_a_port_with_closed_connections_in_time_wait_is_not_refused(broker):
    handle = broker(**{"num.shards": 2})
    # Connections the broker closes at shutdown: their side of each waits in TIME_WAIT on the
    # listener's port.
    sockets = [kafka_wire.connect(handle.bootstrap) for _ in range(FRESH_CONNECTIONS)]
    try:
        for sock in sockets:
            kafka_wire.api_versions_v0(sock)
        assert handle.stop() == 0, handle.stderr_tail()
    finally:
        for sock in sockets:
            sock.close()
    assert time_wait_sockets_on(handle.port) > 0, "precondition: the broker's closed connections in TIME_WAIT"
    # They carry the listener's SO_REUSEPORT and no SO_REUSEADDR: a bind without SO_REUSEPORT
    # fails on them as on a listener, so such a bind alone cannot tell the two apart.
    with socket.socket() as plain:
        plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with pytest.raises(OSError) as failed:
            plain.bind((HOST, handle.port))
        assert failed.value.errno == errno.EADDRINUSE
    handle.start()
    assert handle.alive(), handle.stderr_tail()


# Rounds of two copies started together: the window between a copy's probe and its shards'
# bind is wide enough that, before port claims, both copies passed in most rounds.
SIMULTANEOUS_ROUNDS = 3
# Once the refused copy exited, the one left must still serve this long later.
SURVIVOR_CHECK_S = 1.0


def test_two_copies_started_at_the_same_instant_one_is_refused(tmp_path):
    """An exact copy of a broker's settings (only log.dirs differs) started at the very moment
    the broker starts: neither listens yet when the other probes the port. One of the two
    must be refused, exactly as a copy started later is."""
    for attempt in range(SIMULTANEOUS_ROUNDS):
        port = free_port()
        copies, logs = [], []
        for name in ("a", "b"):
            data_dir = tmp_path / f"{attempt}-{name}" / "data"
            data_dir.mkdir(parents=True)
            logs.append(tmp_path / f"{attempt}-{name}" / "stderr.log")
            copies.append((serve_command(data_dir, port), logs[-1]))
        processes = []
        try:
            for cmd, log_path in copies:
                with open(log_path, "wb") as log:
                    processes.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                                      stderr=log))
            deadline = time.monotonic() + EXIT_DEADLINE_S
            while time.monotonic() < deadline and all(p.poll() is None for p in processes):
                time.sleep(EXIT_POLL_INTERVAL_S)
            time.sleep(SURVIVOR_CHECK_S)
            codes = [p.poll() for p in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        texts = [log.read_text(errors="replace")[-2000:] for log in logs]
        assert sorted(codes, key=lambda c: c is None) == [EXIT_REFUSED, None], (
            f"round {attempt}: exit codes {codes} (None = still running): both copies must not "
            f"serve port {port}, and one must keep serving\n" + "\n---\n".join(texts))
        refused = texts[codes.index(EXIT_REFUSED)]
        assert f"{HOST}:{port}" in refused and "in use" in refused.lower(), refused
