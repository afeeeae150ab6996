"""Fixtures shared by the black-box tests: a real `millrace serve` process per test.

`broker(**overrides)` starts target/release/millrace on a free 127.0.0.1 port with a fresh
log dir, waits until ApiVersions answers, and returns a `Broker` handle (bootstrap, data_dir,
stop/kill/restart). Every broker is killed at teardown; when a test fails, the tail of each
broker's stderr is attached to the report.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import kafka_wire

# The session-scoped `apache_kafka` fixture (tests/kafka_peer.py): Apache Kafka, started once;
# `millrace_cluster` (tests/cluster_fixture.py): N-node clusters from KRaft files.
pytest_plugins = ["kafka_peer", "cluster_fixture"]

REPO_ROOT = Path(__file__).resolve().parent.parent
BROKER_BINARY = Path(os.environ.get("MILLRACE_BINARY", REPO_ROOT / "target" / "release" / "millrace"))
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
READY_POLL_INTERVAL_S = 0.05
STDERR_TAIL_BYTES = 8000


def free_port():
    """A port nothing listens on right now (the broker binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class BrokerFailed(Exception):
    pass


class Broker:
    """One `millrace serve` process; start() may be called again after stop() or kill()."""

    def __init__(self, data_dir, stderr_path, overrides):
        self.port = free_port()
        self.data_dir = Path(data_dir)
        self.stderr_path = Path(stderr_path)
        self.overrides = dict(overrides)
        self.process = None
        self.starts = 0

    @property
    def bootstrap(self):
        return f"{HOST}:{self.port}"

    def __iter__(self):
        """Unpacks as (bootstrap, data_dir, broker)."""
        return iter((self.bootstrap, self.data_dir, self))

    def command(self):
        settings = {
            "listeners": f"PLAINTEXT://{self.bootstrap}",
            "advertised.listeners": f"PLAINTEXT://{self.bootstrap}",
            "log.dirs": str(self.data_dir),
            # Off unless a test asks: test brokers run side by side and would
            # all try the default 127.0.0.1:9644.
            "http.listener": "",
        }
        settings.update(self.overrides)
        cmd = [str(BROKER_BINARY), "serve"]
        for key, value in settings.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def start(self):
        self.launch()
        self.wait_ready()
        return self

    def launch(self):
        """Starts the process without waiting for it to serve: a cluster's nodes serve clients
        only once a quorum registered them, so they are launched together, then waited for."""
        if not BROKER_BINARY.exists():
            raise BrokerFailed(f"{BROKER_BINARY} not built: run `cargo build --release`")
        self.starts += 1
        with open(self.stderr_path, "ab") as stderr:
            stderr.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            stderr.flush()
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, cwd=self.data_dir.parent
            )
        return self

    def wait_ready(self, timeout_s=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout_s
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerFailed(
                    f"broker exited with {self.process.returncode} during start-up\n{self.stderr_tail()}"
                )
            try:
                with kafka_wire.connect(self.bootstrap, timeout_s=2.0) as sock:
                    error_code, versions = kafka_wire.api_versions_v0(sock)
                if error_code == kafka_wire.ERROR_NONE and kafka_wire.API_API_VERSIONS in versions:
                    return
                last_error = f"ApiVersions error {error_code}, keys {sorted(versions)}"
            except (OSError, ValueError, ConnectionError) as err:
                last_error = repr(err)
            time.sleep(READY_POLL_INTERVAL_S)
        raise BrokerFailed(
            f"broker not ready within {timeout_s}s (last: {last_error})\n{self.stderr_tail()}"
        )

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """SIGTERM and wait: a clean shutdown. Returns the exit code; raises if it hangs."""
        if not self.alive():
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout_s)
            raise BrokerFailed(f"broker ignored SIGTERM for {timeout_s}s\n{self.stderr_tail()}")

    def kill(self):
        """SIGKILL: an unclean stop, as a crash or power loss of the process."""
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def restart(self):
        self.stop()
        return self.start()

    def stderr_tail(self, limit=STDERR_TAIL_BYTES):
        try:
            data = self.stderr_path.read_bytes()
        except OSError:
            return "(no stderr captured)"
        return data[-limit:].decode(errors="replace")


@pytest.fixture
def broker(tmp_path, request):
    """Factory: broker(**overrides) -> started Broker. Keys use dots, e.g.
    broker(**{"num.shards": 2}); data_dir= reuses a directory."""
    started = []
    request.node.millrace_brokers = started

    def start(data_dir=None, **overrides):
        index = len(started)
        data_dir = Path(data_dir) if data_dir else tmp_path / f"broker{index}" / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = Broker(data_dir, data_dir.parent / "stderr.log", overrides)
        started.append(handle)
        return handle.start()

    yield start
    for handle in started:
        handle.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for index, handle in enumerate(getattr(item, "millrace_brokers", [])):
            report.sections.append((f"broker {index} stderr (tail)", handle.stderr_tail()))
