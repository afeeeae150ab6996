"""Apache Kafka as a test peer: one KRaft node started by perf/peers/kafka.sh, once per test run.

`apache_kafka` (session-scoped) starts it on free ports with a 1 GiB heap (tests need no more;
KAFKA_TEST_HEAP overrides) and `group.initial.rebalance.delay.ms=0`, millrace's default, so a
first JoinGroup answers at once on both brokers. If Kafka cannot start (no Java, no Maven, no
Maven Central) the tests that use it ERROR, loudly: they never skip.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT, free_port

KAFKA_SCRIPT = REPO_ROOT / "perf" / "peers" / "kafka.sh"
TEST_HEAP = os.environ.get("KAFKA_TEST_HEAP", "1g")
# Jar resolution on a clean machine plus a JVM start on a loaded one.
START_TIMEOUT_S = 600


class ApacheKafka:
    def __init__(self, run_dir, port):
        self.run_dir = Path(run_dir)
        self.port = port

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def log_tail(self, lines=60):
        log = self.run_dir / "node-0" / "kafka.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no Kafka log)"


def _script(*args, timeout):
    return subprocess.run(
        ["bash", str(KAFKA_SCRIPT), *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def apache_kafka():
    run_dir = tempfile.mkdtemp(prefix="millrace-kafka-peer-")
    kafka = ApacheKafka(run_dir, free_port())
    started = _script(
        "start", "--dir", run_dir, "--fresh", "--heap", TEST_HEAP,
        "--port", str(kafka.port), "--controller-port", str(free_port()),
        "--override", "group.initial.rebalance.delay.ms=0",
        "--stop-with", str(os.getpid()),
        timeout=START_TIMEOUT_S,
    )
    if started.returncode != 0:
        _script("stop", "--dir", run_dir, timeout=120)
        pytest.fail(
            f"Apache Kafka did not start (perf/peers/kafka.sh exit {started.returncode}):\n"
            f"{started.stdout}\n{started.stderr}\n{kafka.log_tail()}",
            pytrace=False,
        )
    try:
        yield kafka
    finally:
        _script("stop", "--dir", run_dir, timeout=120)
        shutil.rmtree(run_dir, ignore_errors=True)
