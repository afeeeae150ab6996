"""`millrace cluster local --brokers N`: the KRaft files it writes, the `millrace serve` children
it starts and supervises, Ctrl-C/SIGTERM stopping all of them, a child's death named and the
others stopped, and no child left behind when the launcher itself is killed with kill -9. Each
runs a 3-node cluster (3 voters): the whole cluster stopping at once must not leave its last
voter waiting for a controlled-shutdown answer that no quorum can give."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import kafka_wire
from conftest import BROKER_BINARY, HOST

# Ports between two nodes' first ports and the ports each node uses (client, CONTROLLER, HTTP).
PORT_STRIDE = 100
PORTS_PER_NODE = 3
# A node start on a loaded machine; the launcher's stop bound is 30 s.
READY_TIMEOUT_S = 60
EXIT_TIMEOUT_S = 45
GONE_TIMEOUT_S = 15


def ports_free(ports):
    held = []
    try:
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        for sock in held:
            sock.close()


def free_base_port(brokers):
    """A base port whose every node port is free now (ephemeral range, away from its top)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            base = sock.getsockname()[1]
        wanted = [base + i * PORT_STRIDE + j for i in range(brokers) for j in range(PORTS_PER_NODE)]
        if wanted[-1] < 65536 and ports_free(wanted):
            return base
    raise RuntimeError("no free port range")


def pid_alive(pid):
    """Whether `pid` runs (a zombie of another parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids, timeout_s=GONE_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(pid_alive(pid) for pid in pids):
            return []
        time.sleep(0.1)
    return [pid for pid in pids if pid_alive(pid)]


class Launcher:
    """One `millrace cluster local` process; its stdout lines collected by a thread."""

    def __init__(self, directory, brokers):
        self.directory = directory
        self.brokers = brokers
        self.base_port = free_base_port(brokers)
        self.lines = []
        self.process = subprocess.Popen(
            [str(BROKER_BINARY), "cluster", "local", "--brokers", str(brokers),
             "--dir", str(directory), "--base-port", str(self.base_port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.stderr = ""
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, prefix, timeout_s=READY_TIMEOUT_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line {prefix!r} from the launcher; stdout {self.lines}, "
                             f"exit {self.process.poll()}, stderr {self.finish_stderr()}")

    def node_pids(self):
        """node id -> pid, from the launcher's `node I (...): pid P, ...` lines."""
        pids = {}
        for line in self.lines:
            if line.startswith("node ") and ": pid " in line:
                node_id = int(line.split()[1])
                pids[node_id] = int(line.split(": pid ")[1].split(",")[0])
        return pids

    def wait_exit(self, timeout_s=EXIT_TIMEOUT_S):
        code = self.process.wait(timeout=timeout_s)
        self.finish_stderr()
        return code

    def finish_stderr(self):
        if self.process.poll() is not None and not self.stderr:
            self.stderr = self.process.stderr.read()
        return self.stderr

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def launcher(tmp_path):
    started = []

    def start(brokers):
        handle = Launcher(tmp_path / f"cluster{len(started)}", brokers)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        pids = handle.node_pids()
        handle.kill()
        for pid in wait_gone(list(pids.values())):
            os.kill(pid, signal.SIGKILL)


def answers_api_versions(bootstrap):
    with kafka_wire.connect(bootstrap, timeout_s=5.0) as sock:
        error_code, _ = kafka_wire.api_versions_v0(sock)
    return error_code == kafka_wire.ERROR_NONE


BROKERS = 3
# What a node logs when it gave up waiting for its controlled shutdown to be answered.
SHUTDOWN_GAVE_UP = "controlled shutdown: no answer in"


def node_logs(cluster):
    return {i: (cluster.directory / f"node-{i}" / "millrace.log").read_text(errors="replace")
            for i in range(1, cluster.brokers + 1)}


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_files_written_nodes_started_and_all_stopped_on_a_signal(launcher, stop_signal):
    cluster = launcher(BROKERS)
    ready = cluster.wait_line("bootstrap servers: ")
    ports = [cluster.base_port + i * PORT_STRIDE for i in range(BROKERS)]
    bootstrap = f"{HOST}:{ports[0]}"
    assert ready == f"bootstrap servers: {','.join(f'{HOST}:{p}' for p in ports)}"
    voters = ",".join(f"{i + 1}@{HOST}:{port + 1}" for i, port in enumerate(ports))
    for i, port in enumerate(ports):
        node_dir = cluster.directory / f"node-{i + 1}"
        text = (node_dir / "server.properties").read_text()
        for line in ["process.roles=broker,controller", f"node.id={i + 1}",
                     f"controller.quorum.voters={voters}",
                     f"listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{port + 1}",
                     "controller.listener.names=CONTROLLER", f"log.dirs={node_dir / 'data'}",
                     "num.shards=1"]:
            assert f"\n{line}\n" in text, f"{line!r} not in\n{text}"
        assert answers_api_versions(f"{HOST}:{port}")
        assert (node_dir / "millrace.log").stat().st_size > 0, "each node logs into its directory"
    assert answers_api_versions(bootstrap)
    pids = cluster.node_pids()
    assert sorted(pids) == [1, 2, 3] and all(pid_alive(pid) for pid in pids.values())

    cluster.process.send_signal(stop_signal)
    assert cluster.wait_exit() == 0, cluster.stderr
    assert "all nodes stopped" in cluster.lines
    assert wait_gone(pids.values()) == []
    # Every node stopped on its own: the launcher did not have to kill one, and none sat out
    # the controlled-shutdown bound waiting for a quorum that had already gone.
    assert "still running" not in cluster.stderr
    waited = {i: log[log.index(SHUTDOWN_GAVE_UP):][:200] for i, log in node_logs(cluster).items()
              if SHUTDOWN_GAVE_UP in log}
    assert waited == {}, waited


def test_a_node_that_dies_is_named_and_the_launcher_exits(launcher):
    cluster = launcher(BROKERS)
    cluster.wait_line("bootstrap servers: ")
    pids = cluster.node_pids()
    os.kill(pids[2], signal.SIGKILL)
    assert cluster.wait_exit() == 1
    log = cluster.directory / "node-2" / "millrace.log"
    assert (f"node 2 (pid {pids[2]}) was killed by signal 9; its log: {log}; stopping the others"
            in cluster.stderr), cluster.stderr
    assert wait_gone(pids.values()) == [], "the other nodes were stopped"


def test_killing_the_launcher_leaves_no_node_running(launcher):
    cluster = launcher(BROKERS)
    cluster.wait_line("bootstrap servers: ")
    pids = cluster.node_pids()
    assert sorted(pids) == [1, 2, 3]
    cluster.process.kill()
    cluster.process.wait()
    assert wait_gone(pids.values()) == [], "a node outlived its launcher"


def test_bad_arguments_exit_2_with_usage(tmp_path):
    for args in [[], ["--brokers", "0"], ["--brokers", "2", "--base-port", "65500"]]:
        result = subprocess.run([str(BROKER_BINARY), "cluster", "local", *args, "--dir",
                                 str(tmp_path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, (args, result.stderr)
        assert "millrace cluster local" in result.stderr
