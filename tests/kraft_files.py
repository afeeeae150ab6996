"""Kafka's shipped KRaft config files (tests/fixtures/kafka-config) run with `millrace serve
FILE`: the file is copied with only its ports (9092 -> a free client port, 9093 -> a free
controller port) and log.dirs rewritten, plus any extra lines a test appends."""

import base64
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BROKER_BINARY, Broker
from kafka_peer import two_free_ports as two_ports  # noqa: F401 (re-exported for the tests)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kafka-config"
# A refused start exits at once; generous for a loaded machine.
REFUSAL_TIMEOUT_S = 60
# The HTTP endpoint's default port is shared by every broker on the machine: off here.
NO_HTTP = ["--override", "http.listener="]


def kafka_uuid():
    """A random id as Kafka makes one (`kafka-storage random-uuid`, a directory.id):
    base64url of 16 bytes, never starting with '-', which Kafka's tools would read as
    an option."""
    while True:
        text = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def rewrite(name, directory, client_port, controller_port, extra_lines=(), replace=None):
    """Writes fixture `name` into `directory` with its ports and log.dirs rewritten; `replace`
    maps a whole line of the file to its substitute. Returns (path, data dir)."""
    data_dir = Path(directory) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    text = (FIXTURES / name).read_text()
    for line, substitute in (replace or {}).items():
        assert re.search(rf"(?m)^{re.escape(line)}$", text), f"{name} has no line {line!r}"
        text = re.sub(rf"(?m)^{re.escape(line)}$", substitute, text)
    text = re.sub(r":9092\b", f":{client_port}", text)
    text = re.sub(r":9093\b", f":{controller_port}", text)
    text, count = re.subn(r"(?m)^log\.dirs=.*$", f"log.dirs={data_dir}", text)
    assert count == 1, f"{name}: expected one log.dirs line"
    text += "".join(f"{line}\n" for line in extra_lines)
    path = Path(directory) / name
    path.write_text(text)
    return path, data_dir


class FileBroker(Broker):
    """`millrace serve FILE`, served on `port` (the file's client or controller listener)."""

    def __init__(self, config_file, port, data_dir):
        super().__init__(data_dir, Path(config_file).parent / "stderr.log", {})
        self.port = port
        self.config_file = Path(config_file)

    def command(self):
        return [str(BROKER_BINARY), "serve", str(self.config_file), *NO_HTTP]


@pytest.fixture
def file_broker(request):
    """Factory: file_broker(config_file, port, data_dir) -> started FileBroker."""
    started = []
    request.node.millrace_brokers = started

    def start(config_file, port, data_dir):
        handle = FileBroker(config_file, port, data_dir)
        started.append(handle)
        return handle.start()

    yield start
    for handle in started:
        handle.kill()


def file_node(tmp_path, name, lines, port):
    """A `FileBroker` (not started) for a server.properties in tmp_path/name holding `lines` and
    its own log.dirs."""
    directory = tmp_path / name
    data_dir = directory / "data"
    data_dir.mkdir(parents=True)
    config_file = directory / "server.properties"
    config_file.write_text("".join(f"{line}\n" for line in [f"log.dirs={data_dir}", *lines]))
    return FileBroker(config_file, port, data_dir)


def combined_voter_lines(node_id, voters):
    """The KRaft lines of a `broker,controller` node `node_id` of the quorum `voters`
    (`id@host:port,...`), its controller listener named CONTROLLER."""
    return [
        "process.roles=broker,controller",
        f"node.id={node_id}",
        f"controller.quorum.voters={voters}",
        "controller.listener.names=CONTROLLER",
    ]


@pytest.fixture
def file_nodes(request):
    """A list the test appends its `FileBroker`s to; each is killed at the end."""
    started = []
    request.node.millrace_brokers = started
    yield started
    for node in started:
        node.kill()


def serve_refused(config_file):
    """Runs `millrace serve FILE` expecting a refusal; returns (exit code, stderr)."""
    try:
        result = subprocess.run(
            [str(BROKER_BINARY), "serve", str(config_file), *NO_HTTP],
            capture_output=True, text=True, timeout=REFUSAL_TIMEOUT_S, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as running:
        output = (running.stderr or b"").decode(errors="replace")[-3000:]
        pytest.fail(f"millrace serve {config_file} was still running after {REFUSAL_TIMEOUT_S}s "
                    f"instead of refusing the file:\n{output}")
    return result.returncode, result.stderr
