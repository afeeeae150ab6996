"""Runs the Java programs of tests/java/ (kafka-clients, Kafka Streams and Kafka's command-line
tools, built by tests/java/build.sh into target/java/) for the tests/test_java_*.py tests.

`driver(scenario, **options)` runs one scenario of millrace.Driver (one JVM) and returns its
JSON result; `tool(main_class, *args)` runs one of Kafka's command-line tools the way its
bin/kafka-*.sh script would. The clients' own log (slf4j, WARN and up) goes to stderr and is
attached to the assertion message when a program fails; JAVA_CLIENT_LOG_LEVEL=debug shows more.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

from kafkajs_node import last_json_line, tail

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "tests" / "java" / "build.sh"
BUILD_DIR = REPO_ROOT / "target" / "java"
BUILD_TIMEOUT_S = 600
# Beyond a scenario's own deadline (deadline-ms), so its watchdog reports where it stood.
DRIVER_GRACE_S = 20.0
DEFAULT_DEADLINE_MS = 60000
TOOL_TIMEOUT_S = 120
# Start-up over steady speed: each JVM runs one short scenario or one tool on 2 shared cores.
JVM_FLAGS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx512m", "-Djava.awt.headless=true"]

_built = None


class JavaFailed(AssertionError):
    """A Java program failed; `error` is the driver's reported error (or None)."""

    def __init__(self, message, error=None):
        super().__init__(message)
        self.error = error


def build():
    """Builds target/java once per test session (a no-op when nothing changed)."""
    global _built
    if _built is None:
        done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        _built = (done.returncode, done.stdout + done.stderr)
    returncode, output = _built
    assert returncode == 0, f"tests/java/build.sh failed (exit {returncode}; tests/run.sh installs java and maven):\n{tail(output)}"


def java_command(main_class, *args):
    build()
    java = shutil.which("java")
    assert java, "java not found: tests/run.sh installs a JDK"
    log_level = os.environ.get("JAVA_CLIENT_LOG_LEVEL", "warn")
    classpath = f"{BUILD_DIR / 'classes'}:{BUILD_DIR / 'lib'}/*"
    return [java, *JVM_FLAGS, f"-Dorg.slf4j.simpleLogger.defaultLogLevel={log_level}", "-cp", classpath, main_class, *map(str, args)]


def driver(scenario, **options):
    """Runs `millrace.Driver scenario key=value...` (option names with _ become -); returns its
    JSON result. A scenario that reports an error, dies or hangs fails the calling test."""
    options = {key.replace("_", "-"): value for key, value in options.items()}
    options.setdefault("deadline-ms", DEFAULT_DEADLINE_MS)
    args = [f"{key}={value}" for key, value in options.items()]
    command = java_command("millrace.Driver", scenario, *args)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=options["deadline-ms"] / 1000 + DRIVER_GRACE_S)
    except subprocess.TimeoutExpired as err:
        raise JavaFailed(f"{scenario} hung past its watchdog\n{tail(err.stderr)}") from err
    result = last_json_line(done.stdout)
    if done.returncode != 0 or result is None or "error" in result:
        error = result and result.get("error")
        partial = result and result.get("partial")
        raise JavaFailed(
            f"{scenario} {' '.join(args)} exited {done.returncode}: {json.dumps(error, indent=1)}\n"
            f"state when it failed: {tail(json.dumps(summarised(partial)))}\n"
            f"client log:\n{tail(done.stderr)}",
            error,
        )
    return result


def summarised(value):
    """`value` with each timeline event ["records", [...]] shortened to its count and ends."""
    if isinstance(value, dict):
        return {key: summarised(item) for key, item in value.items()}
    if isinstance(value, list):
        if len(value) == 2 and value[0] == "records" and isinstance(value[1], list):
            return ["records", len(value[1]), value[1][0], value[1][-1]] if value[1] else ["records", 0]
        return [summarised(item) for item in value]
    return value


def tool(main_class, *args, input=None, timeout_s=TOOL_TIMEOUT_S):
    """Runs one of Kafka's command-line tools; returns the CompletedProcess (text)."""
    return subprocess.run(java_command(main_class, *args), input=input, capture_output=True, text=True, timeout=timeout_s)


def tool_ok(main_class, *args, input=None, timeout_s=TOOL_TIMEOUT_S):
    """Like tool, but the tool must exit 0; returns its stdout."""
    done = tool(main_class, *args, input=input, timeout_s=timeout_s)
    assert done.returncode == 0, (
        f"{main_class} {' '.join(map(str, args))} exited {done.returncode}\n"
        f"stdout:\n{tail(done.stdout)}\nstderr:\n{tail(done.stderr)}"
    )
    return done.stdout
