"""Apache Kafka as a test peer: one KRaft node started by perf/peers/kafka.sh, once per test run.

`apache_kafka` (session-scoped) starts it on free ports with a 1 GiB heap (tests need no more;
KAFKA_TEST_HEAP overrides) and `group.initial.rebalance.delay.ms=0`, millrace's default, so a
first JoinGroup answers at once on both brokers. kafka.sh only reports Kafka ready once its
port answers with the cluster id it formatted, so another process on that port is never taken
for it; a port taken between choosing and binding it is retried on new ports. If Kafka cannot
start (no Java, no Maven, no Maven Central, a crash) the tests that use it ERROR with Kafka's
own output: they never skip. Its data and log stay under pytest's temporary directory.
"""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, free_port

KAFKA_SCRIPT = REPO_ROOT / "perf" / "peers" / "kafka.sh"
TEST_HEAP = os.environ.get("KAFKA_TEST_HEAP", "1g")
# Jar resolution on a clean machine plus a JVM start on a loaded one.
START_TIMEOUT_S = 600
STOP_TIMEOUT_S = 120
# kafka.sh's exit status when a port it needs is taken.
EXIT_PORT_IN_USE = 3
# Start attempts on fresh ports when the chosen ones were taken meanwhile.
START_ATTEMPTS = 3
LOG_TAIL_LINES = 80


class ApacheKafka:
    def __init__(self, run_dir, port):
        self.run_dir = Path(run_dir)
        self.port = port

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def log_tail(self, lines=LOG_TAIL_LINES):
        log = self.run_dir / "node-0" / "kafka.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) or "(empty Kafka log)"
        except OSError:
            return "(no Kafka log)"


def _script(*args, timeout):
    return subprocess.run(
        ["bash", str(KAFKA_SCRIPT), *args], capture_output=True, text=True, timeout=timeout
    )


def two_free_ports():
    broker_port = free_port()
    controller_port = free_port()
    while controller_port == broker_port:
        controller_port = free_port()
    return broker_port, controller_port


def start_kafka(run_dir):
    """Starts Kafka in `run_dir`; returns (ApacheKafka, None) or (None, why it did not start)."""
    failures = []
    for attempt in range(1, START_ATTEMPTS + 1):
        broker_port, controller_port = two_free_ports()
        kafka = ApacheKafka(run_dir, broker_port)
        started = _script(
            "start", "--dir", str(run_dir), "--fresh", "--heap", TEST_HEAP,
            "--port", str(broker_port), "--controller-port", str(controller_port),
            "--override", "group.initial.rebalance.delay.ms=0",
            "--stop-with", str(os.getpid()),
            timeout=START_TIMEOUT_S,
        )
        if started.returncode == 0:
            return kafka, None
        failures.append(
            f"attempt {attempt} (ports {broker_port}/{controller_port}): perf/peers/kafka.sh exit "
            f"{started.returncode}\n{started.stdout}{started.stderr}"
        )
        if started.returncode != EXIT_PORT_IN_USE:
            break
    return None, "\n".join(failures)


@pytest.fixture(scope="session")
def apache_kafka(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("apache-kafka")
    kafka, failure = start_kafka(run_dir)
    if kafka is None:
        _script("stop", "--dir", str(run_dir), timeout=STOP_TIMEOUT_S)
        pytest.fail(f"Apache Kafka did not start:\n{failure}", pytrace=False)
    try:
        yield kafka
    finally:
        _script("stop", "--dir", str(run_dir), timeout=STOP_TIMEOUT_S)
