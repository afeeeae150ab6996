#!/usr/bin/env python3
"""How long a single node takes to open its partitions at a clean restart.

Creates --partitions empty partitions (topics of 10) on one `millrace serve` (num.shards=1) in
--dir (kept: a second run reuses it), stops it with SIGTERM, then restarts it --rounds times with
each binary of --binary (alternating, so both see the same machine state) and prints, per
restart, the seconds until the listener accepts and the shard's own "N partition(s) open in M ms"
log line, with the load average. Medians per binary at the end. The binaries run in the order
given in every round; the temporary data directory (without --dir) is left for a later run.

    target/test-venv/bin/python perf/partition_open.py --binary /tmp/before --binary \\
        target/release/millrace --partitions 3000 --rounds 3
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PORT = 39555
PARTITIONS_PER_TOPIC = 10
CREATE_TIMEOUT_S = 300
LISTEN_POLL_S = 0.005
LISTEN_TIMEOUT_S = 120
STOP_TIMEOUT_S = 120
OPEN_LINE = re.compile(r"(\d+) partition\(s\) open in (\d+) ms")


def launch(binary, data_dir, log_path):
    command = [binary, "serve", "--override", f"log.dirs={data_dir}",
               "--override", f"listeners=PLAINTEXT://127.0.0.1:{PORT}",
               "--override", "num.shards=1"]
    with open(log_path, "w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def wait_listening(started):
    deadline = started + LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), 0.2).close()
            return time.monotonic() - started
        except OSError:
            time.sleep(LISTEN_POLL_S)
    raise TimeoutError(f"not listening within {LISTEN_TIMEOUT_S}s")


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(STOP_TIMEOUT_S)


def create(binary, data_dir, partitions, log_path):
    process = launch(binary, data_dir, log_path)
    wait_listening(time.monotonic())
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{PORT}"})
    topics = [NewTopic(f"open-{t}", PARTITIONS_PER_TOPIC, 1)
              for t in range(partitions // PARTITIONS_PER_TOPIC)]
    for future in admin.create_topics(topics).values():
        future.result(CREATE_TIMEOUT_S)
    stop(process)


def restart(binary, data_dir, log_path):
    started = time.monotonic()
    process = launch(binary, data_dir, log_path)
    listening_s = wait_listening(started)
    stop(process)
    found = OPEN_LINE.search(Path(log_path).read_text())
    if found is None:
        raise RuntimeError(f"{binary}: no 'partition(s) open' line in {log_path}")
    return {"binary": binary, "listening_s": round(listening_s, 3), "opened": int(found[1]),
            "open_ms": int(found[2]), "load": round(os.getloadavg()[0], 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", action="append", required=True)
    parser.add_argument("--partitions", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="data directory (default: a new temporary one)")
    args = parser.parse_args()
    if args.partitions % PARTITIONS_PER_TOPIC:
        parser.error(f"--partitions must be a multiple of {PARTITIONS_PER_TOPIC}")
    data_dir = Path(args.dir or tempfile.mkdtemp(prefix="millrace-open-"))
    log_path = data_dir.parent / f"{data_dir.name}.log"
    if not (data_dir / "meta.properties").exists():
        create(args.binary[0], data_dir, args.partitions, log_path)
    results = []
    for round_index in range(args.rounds):
        for binary in args.binary:
            result = {"round": round_index, **restart(binary, data_dir, log_path)}
            results.append(result)
            print(json.dumps(result), flush=True)
    for binary in args.binary:
        mine = [r for r in results if r["binary"] == binary]
        print(json.dumps({"summary": binary,
                          "listening_s_median": statistics.median(r["listening_s"] for r in mine),
                          "open_ms_median": statistics.median(r["open_ms"] for r in mine)}))


if __name__ == "__main__":
    main()
