"""Runs the Go client programs of tests/goclients/ (Debian's Sarama and kafka-go) and
returns their JSON. The programs are built on first use by build.sh (only when their
sources changed); without Go or the Debian -dev packages the calling test skips."""

import json
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BUILD_SCRIPT = REPO_ROOT / "tests" / "goclients" / "build.sh"
BINARY_DIR = REPO_ROOT / "target" / "goclients"
BUILD_TIMEOUT_S = 300
# The programs bound each of their own waits to 5-15 s; this only catches a hang.
RUN_TIMEOUT_S = 60
EXIT_PACKAGES_MISSING = 2

_built = None


def _build():
    global _built
    if _built is None:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
        )
        _built = (done.returncode, done.stderr)
    returncode, stderr = _built
    if returncode == EXIT_PACKAGES_MISSING:
        pytest.skip(f"Go clients unavailable (tests/run.sh installs them): {stderr.strip()}")
    assert returncode == 0, f"building the Go client programs failed:\n{stderr}"


def run(binary, **flags):
    """Runs target/goclients/<binary> with -key=value flags; returns (exit code, JSON)."""
    _build()
    args = [str(BINARY_DIR / binary)]
    args += [f"-{key.replace('_', '-')}={value}" for key, value in flags.items()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    lines = done.stdout.strip().splitlines()
    assert lines, f"{binary} printed nothing (exit {done.returncode}); stderr:\n{done.stderr[-4000:]}"
    return done.returncode, json.loads(lines[-1])


def run_ok(binary, **flags):
    """Like run, but the program must succeed; returns its JSON."""
    returncode, result = run(binary, **flags)
    assert returncode == 0 and "error" not in result, f"{binary} {flags} failed: {result}"
    return result


def sarama(**flags):
    return run_ok("sarama-check", **flags)


def kafka_go(**flags):
    return run_ok("kafka-go-check", **flags)
