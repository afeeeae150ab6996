"""The Java client (kafka-clients) as producers and consumers of a Jepsen-style run: tests/java's
`millrace.Driver jepsen-producer` / `jepsen-consumer`, each in a JVM of its own, appending send or
poll events to the same history file, stopped by a stop file (so it flushes and closes as a
client would)."""

import subprocess
from pathlib import Path

import java_clients
from kafkajs_node import last_json_line, tail

# The JVM's own watchdog: far beyond any run; the stop file ends it normally.
DEADLINE_MS = 3 * 60 * 60 * 1000


class JavaClient:
    """One `millrace.Driver SCENARIO` process writing history events; start(), stop(), join()."""

    def __init__(self, scenario, name, bootstrap, topic, partitions, history_path, work_dir, *options):
        self.name = name
        self.stop_file = Path(work_dir) / f"{name}.stop"
        self.log_path = Path(work_dir) / f"{name}.log"
        self.command = java_clients.java_command(
            "millrace.Driver", scenario, f"bootstrap={bootstrap}", f"topic={topic}",
            f"partitions={partitions}", f"process={name}", f"history={history_path}",
            f"stop-file={self.stop_file}", f"deadline-ms={DEADLINE_MS}", *options)
        self.process = None
        self.failure = None
        self.result = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=self.log)

    def stop(self):
        self.stop_file.touch()

    def join(self, timeout_s):
        try:
            out, _ = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
            self.failure = f"{self.name} did not stop within {timeout_s}s"
        self.log.close()
        self.result = last_json_line(out.decode(errors="replace"))
        if self.process.returncode != 0 or self.result is None or "error" in self.result:
            self.failure = self.failure or (
                f"{self.name} exited {self.process.returncode}: {self.result}\n"
                f"{tail(self.log_path.read_text(errors='replace'))}")


class JavaProducer(JavaClient):
    """An idempotent acks=all producer of unique values at `rate_per_s`."""

    def __init__(self, name, bootstrap, topic, partitions, history_path, rate_per_s, work_dir):
        super().__init__("jepsen-producer", name, bootstrap, topic, partitions, history_path,
                         work_dir, f"rate={rate_per_s}")


class JavaConsumer(JavaClient):
    """A consumer of every partition from the beginning, assign()ed, one poll event per record."""

    def __init__(self, name, bootstrap, topic, partitions, history_path, work_dir):
        super().__init__("jepsen-consumer", name, bootstrap, topic, partitions, history_path,
                         work_dir)
