"""Runs the Go client programs and returns their JSON. build.sh builds them on first use
(only when their sources changed), per kind:
- "debian": Debian's Sarama 1.22 and kafka-go 0.2.1 (sarama-check, kafka-go-check);
- "newest": the module tests/goclients/newest: franz-go (franz-check) and the same Sarama and
  kafka-go programs built against the newest IBM/sarama and kafka-go (sarama-newest-check,
  kafka-go-newest-check).
Without a kind's Go or packages, the tests that need it skip."""

import json
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BUILD_SCRIPT = REPO_ROOT / "tests" / "goclients" / "build.sh"
BINARY_DIR = REPO_ROOT / "target" / "goclients"
# tests/run.sh builds ahead; a first build here (module downloads, cgo) can take minutes.
BUILD_TIMEOUT_S = 900
# The programs bound each of their own waits (at most 45 s a scenario); this only catches a hang.
RUN_TIMEOUT_S = 90
EXIT_PACKAGES_MISSING = 2
DEBIAN, NEWEST = "debian", "newest"
BUILDS = (DEBIAN, NEWEST)
BINARIES = {
    ("sarama", DEBIAN): "sarama-check",
    ("sarama", NEWEST): "sarama-newest-check",
    ("kafka-go", DEBIAN): "kafka-go-check",
    ("kafka-go", NEWEST): "kafka-go-newest-check",
    ("franz", NEWEST): "franz-check",
}
# config.Version that "newest" means to each Sarama (its MaxVersion).
SARAMA_NEWEST_VERSION = {DEBIAN: "2.2.0", NEWEST: "4.3.1"}

_built = {}


def build(kind):
    """Builds one kind of programs (once per session); skips the test when unavailable."""
    if kind not in _built:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), kind], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
        )
        _built[kind] = (done.returncode, done.stderr)
    returncode, stderr = _built[kind]
    if returncode == EXIT_PACKAGES_MISSING:
        pytest.skip(f"Go clients ({kind}) unavailable (tests/run.sh installs them): {stderr.strip()}")
    assert returncode == 0, f"building the Go client programs ({kind}) failed:\n{stderr}"


def binary(client, kind):
    """The path of a client's program, built."""
    build(kind)
    return BINARY_DIR / BINARIES[(client, kind)]


def run(client, kind, **flags):
    """Runs a client's program with -key=value flags; returns (exit code, JSON)."""
    args = [str(binary(client, kind))]
    args += [f"-{key.replace('_', '-')}={value}" for key, value in flags.items()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    lines = done.stdout.strip().splitlines()
    assert lines, f"{args[0]} printed nothing (exit {done.returncode}); stderr:\n{done.stderr[-4000:]}"
    return done.returncode, json.loads(lines[-1])


def run_ok(client, kind, **flags):
    """Like run, but the program must succeed; returns its JSON."""
    returncode, result = run(client, kind, **flags)
    assert returncode == 0 and "error" not in result, f"{client} ({kind}) {flags} failed: {result}"
    return result


def sarama(kind=DEBIAN, **flags):
    return run_ok("sarama", kind, **flags)


def kafka_go(kind=DEBIAN, **flags):
    return run_ok("kafka-go", kind, **flags)


def franz(**flags):
    """franz-check's JSON; franz-go must have logged no warning either."""
    result = run_ok("franz", NEWEST, **flags)
    assert result["client_warnings"] == [], result["client_warnings"]
    return result
