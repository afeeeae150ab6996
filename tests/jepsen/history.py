"""The history of a Jepsen-style run, as JSON lines: one event per line, written by every
producer and consumer thread (and by Java producers, in the same format) and read back by the
checker.

Events (every one has "type", "process" and "time"; partition and offset are integers):
- send:   {"value", "partition", "status": "ok" | "fail" | "info", "offset" (ok only), "error"}
          ok = acknowledged at that offset; fail = the client says it was not written;
          info = unknown (timed out, connection lost: it may or may not be in the log).
- poll:   {"partition", "offset", "value"} one record a consumer received, in order.
- assign: {"partitions"} a consumer (re)starts reading: later polls are a new session.
- final:  {"partition", "offset", "value"} the read of the whole log after healing.
- hw:     {"partition", "offset"} the high watermark the final read went up to.
- final-short: {"partition", "reached", "hw", "errors", "state"} the final read could not reach
          the hw (hw null: the partition had none, i.e. it was unavailable after healing);
          state is [leader, replicas, isr] from Metadata then.
- nemesis: {"fault", ...} what the nemesis did (for the reader of a failed run).
"""

import json
import threading
import time

SEND = "send"
POLL = "poll"
ASSIGN = "assign"
FINAL = "final"
HW = "hw"
FINAL_SHORT = "final-short"
NEMESIS = "nemesis"
OK = "ok"
FAIL = "fail"
INFO = "info"


class History:
    """Appends events to a JSON-lines file from any thread."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.file = open(path, "a", encoding="utf-8")

    def record(self, event_type, process, **fields):
        event = {"type": event_type, "process": process, "time": time.time(), **fields}
        line = json.dumps(event, sort_keys=True)
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self):
        with self.lock:
            self.file.close()


def load(path):
    """Every event of a history file, in file order (a torn last line is dropped)."""
    events = []
    with open(path, encoding="utf-8") as history:
        for line in history:
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def write(path, events):
    """Writes forged or merged events as a history file."""
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, sort_keys=True) + "\n")
