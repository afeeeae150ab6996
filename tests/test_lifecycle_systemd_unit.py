"""packaging/millrace.service is a valid unit whose sandbox lets the broker run: systemd accepts
it, it lifts the memlock limit, and its SystemCallFilter admits every system call a real broker
makes (traced with strace) while starting, producing, consuming and shutting down on SIGTERM.
Skipped where strace or systemd-analyze is missing."""

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import kafka_wire
from clients import consume_all, create_topic, new_producer, produce_all, unique_topic
from conftest import BROKER_BINARY, REPO_ROOT, free_port

UNIT = REPO_ROOT / "packaging" / "millrace.service"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
RECORDS = 500

needs_tools = pytest.mark.skipif(
    not (shutil.which("strace") and shutil.which("systemd-analyze")), reason="needs strace and systemd-analyze"
)


def unit_settings():
    """[(key, value)] of the unit's assignments, in order."""
    settings = []
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.append((key.strip(), value.strip()))
    return settings


def expand_syscall_filter(names, seen=None):
    """Syscall names allowed by an allow-list of names and @groups, via systemd-analyze."""
    seen = set() if seen is None else seen
    allowed = set()
    for name in names:
        if not name.startswith("@"):
            allowed.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        listing = subprocess.run(
            ["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, check=True
        ).stdout
        members = [w for line in listing.splitlines()[1:] if not line.strip().startswith("#") for w in line.split()]
        allowed |= expand_syscall_filter(members, seen)
    return allowed


def wait_ready(bootstrap, process):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"broker under strace exited with {process.returncode}"
        try:
            with kafka_wire.connect(bootstrap, timeout_s=2.0) as sock:
                if kafka_wire.api_versions_v0(sock)[0] == kafka_wire.ERROR_NONE:
                    return
        except (OSError, ValueError, ConnectionError):
            pass
        time.sleep(0.1)
    raise AssertionError("broker under strace not ready")


def traced_child_pid(strace_pid):
    children = Path(f"/proc/{strace_pid}/task/{strace_pid}/children").read_text().split()
    assert len(children) == 1, f"strace children: {children}"
    return int(children[0])


def test_unit_sets_memlock_and_an_allow_list_filter():
    settings = dict(unit_settings())
    assert settings["LimitMEMLOCK"] == "infinity"
    assert settings["Type"] == "simple"
    assert settings["KillSignal"] == "SIGTERM"
    syscall_filter = settings["SystemCallFilter"].split()
    assert not any(name.startswith("~") for name in syscall_filter), "a deny list could block io_uring"
    assert {"io_uring_setup", "io_uring_enter", "io_uring_register"} <= set(syscall_filter)


@needs_tools
def test_systemd_accepts_the_unit(tmp_path):
    unit = tmp_path / "millrace.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/millrace", str(BROKER_BINARY)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr and "Failed to parse" not in result.stderr, result.stderr


@needs_tools
def test_syscall_filter_admits_every_call_of_a_broker_at_work(tmp_path):
    allowed = expand_syscall_filter(dict(unit_settings())["SystemCallFilter"].split())
    bootstrap = f"127.0.0.1:{free_port()}"
    trace = tmp_path / "trace"
    command = ["strace", "-f", "-qq", "-o", str(trace), str(BROKER_BINARY), "serve"]
    for setting in (f"listeners=PLAINTEXT://{bootstrap}", f"log.dirs={tmp_path / 'data'}", "num.shards=2"):
        command += ["--override", setting]
    with open(tmp_path / "stderr.log", "wb") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    try:
        wait_ready(bootstrap, process)
        topic = unique_topic("sandbox")
        create_topic(bootstrap, topic, 2)
        messages = [(b"k%d" % i, b"v%d" % i) for i in range(RECORDS)]
        log = produce_all(new_producer(bootstrap, acks="all"), topic, messages)
        assert not log.errors and len(log.delivered) == RECORDS
        received = consume_all(bootstrap, topic, 2)
        assert sum(len(records) for records in received.values()) == RECORDS
        broker_pid = traced_child_pid(process.pid)
        subprocess.run(["kill", "-TERM", str(broker_pid)], check=True)
        assert process.wait(timeout=STOP_TIMEOUT_S) == 0
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)
    used = set(re.findall(r"^\d+ +([a-z_0-9]+)\(", trace.read_text(), flags=re.MULTILINE))
    assert {"io_uring_setup", "sched_setaffinity", "fdatasync"} <= used, f"trace looks incomplete: {sorted(used)}"
    assert used <= allowed, f"blocked by the unit's SystemCallFilter: {sorted(used - allowed)}"
