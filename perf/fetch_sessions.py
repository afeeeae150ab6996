#!/usr/bin/env python3
"""Fetch sessions (KIP-227), A/B: one consumer of many partitions with few new records.

For each broker binary given (e.g. a build without sessions and one with), interleaved over
rounds: start the broker, create a topic of --partitions partitions, trickle --rate records/s
onto random partitions (confluent-kafka producer) and run a consumer for --seconds that
fetches the way the Java client does (tests/kafka_wire.py, Fetch v11): a full fetch with epoch
0; once the broker answers a session id, incremental fetches naming only the partitions whose
offset moved; without one, a full fetch of every partition each time. Every record is checked
(offsets contiguous). Reported per run: fetches/s, request and response bytes per fetch (whole
frames, counted on the consumer's socket), broker CPU (utime+stime from /proc) per second and
per fetch. Medians over rounds at the end.

    flock /work/wt/bench.lock target/test-venv/bin/python perf/fetch_sessions.py \\
        --binary off=target/release/millrace@max.incremental.fetch.session.cache.slots=0 \\
        --binary on=target/release/millrace
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import kafka_wire  # noqa: E402
from clients import create_topic, new_producer  # noqa: E402
from conftest import free_port  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FETCH_MAX_WAIT_MS = 500
START_TIMEOUT_S = 30


def start_broker(binary, data_dir, shards, overrides):
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    settings = {
        "listeners": f"PLAINTEXT://{bootstrap}",
        "advertised.listeners": f"PLAINTEXT://{bootstrap}",
        "log.dirs": str(data_dir),
        "http.listener": "",
        "num.shards": str(shards),
        **overrides,
    }
    cmd = [binary, "serve"]
    for key, value in settings.items():
        cmd += ["--override", f"{key}={value}"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with kafka_wire.connect(bootstrap, timeout_s=2.0) as sock:
                kafka_wire.api_versions_v0(sock)
            return process, bootstrap
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{binary} did not start")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Trickle(threading.Thread):
    """`rate` records/s, each to a random partition."""

    def __init__(self, bootstrap, topic, partitions, rate):
        super().__init__(daemon=True)
        self.producer = new_producer(bootstrap, **{"linger.ms": 0})
        self.topic, self.partitions, self.rate = topic, partitions, rate
        self.stopping = threading.Event()
        self.sent = 0

    def run(self):
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stopping.is_set():
            self.producer.produce(self.topic, value=b"v" * 100, partition=random.randrange(self.partitions))
            self.producer.poll(0)
            self.sent += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        self.producer.flush(10)


def consume(bootstrap, topic, partitions, seconds):
    """Fetches for `seconds`; returns (fetches, request bytes, response bytes, records)."""
    offsets = {p: 0 for p in range(partitions)}
    sent_offsets = {}
    session_id, epoch = 0, 0
    fetches = request_bytes = response_bytes = records = 0
    correlation_id = 0
    deadline = time.monotonic() + seconds
    with kafka_wire.connect(bootstrap) as sock:
        while time.monotonic() < deadline:
            if session_id:
                changed = {p: o for p, o in offsets.items() if sent_offsets.get(p) != o}
                wanted = {topic: changed} if changed else {}
            else:
                wanted = {topic: dict(offsets)}
            body = kafka_wire.fetch_v11_body(session_id, epoch, wanted, max_wait_ms=FETCH_MAX_WAIT_MS)
            correlation_id += 1
            request = kafka_wire.frame(kafka_wire.request_header(kafka_wire.API_FETCH, 11, correlation_id) + body)
            sock.sendall(request)
            response = kafka_wire.read_frame(sock)
            fetches += 1
            request_bytes += len(request)
            response_bytes += len(response) + 4
            reader = kafka_wire.Reader(response)
            assert reader.int32() == correlation_id
            error, answered_session, answered = kafka_wire.parse_fetch_v11(reader)
            assert error == 0, f"fetch error {error}"
            sent_offsets = dict(offsets)
            if answered_session:
                session_id, epoch = answered_session, (epoch + 1 if session_id == answered_session else 1)
            for (_, p), (code, _, _, _, data) in answered.items():
                assert code == 0, f"partition {p}: error {code}"
                for offset, _, _ in kafka_wire.decode_record_batches(data):
                    if offset >= offsets[p]:
                        assert offset == offsets[p], f"partition {p}: offset {offset}, expected {offsets[p]}"
                        offsets[p] += 1
                        records += 1
    return fetches, request_bytes, response_bytes, records


def run_once(label, binary, overrides, args):
    with tempfile.TemporaryDirectory(prefix="fetch-sessions-") as tmp:
        process, bootstrap = start_broker(binary, Path(tmp) / "data", args.shards, overrides)
        try:
            topic = f"sessions-{random.randrange(1 << 30)}"
            create_topic(bootstrap, topic, args.partitions)
            trickle = Trickle(bootstrap, topic, args.partitions, args.rate)
            trickle.start()
            time.sleep(1.0)  # the producer connected and trickling
            cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
            fetches, request_bytes, response_bytes, records = consume(bootstrap, topic, args.partitions, args.seconds)
            cpu = cpu_seconds(process.pid) - cpu_before
            wall = time.monotonic() - wall_before
            trickle.stopping.set()
            trickle.join()
        finally:
            process.kill()
            process.wait()
    return {
        "label": label,
        "fetches_per_s": fetches / wall,
        "request_bytes_per_fetch": request_bytes / fetches,
        "response_bytes_per_fetch": response_bytes / fetches,
        "records": records,
        "broker_cpu_ms_per_s": 1000 * cpu / wall,
        "broker_cpu_us_per_fetch": 1e6 * cpu / fetches,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", action="append", required=True,
                        help="label=path[@key=value...], twice or more; e.g. "
                             "off=target/release/millrace@max.incremental.fetch.session.cache.slots=0")
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="records/s over all partitions")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shards", type=int, default=2)
    args = parser.parse_args()
    binaries = []
    for spec in args.binary:
        label, rest = spec.split("=", 1)
        binary, *settings = rest.split("@")
        binaries.append((label, binary, dict(setting.split("=", 1) for setting in settings)))
    runs = []
    for round_number in range(args.rounds):
        for label, binary, overrides in binaries:
            result = run_once(label, binary, overrides, args)
            result["round"] = round_number
            print(json.dumps(result), flush=True)
            runs.append(result)
    keys = [k for k in runs[0] if k not in ("label", "round")]
    print(f"\nmedians over {args.rounds} rounds ({args.partitions} partitions, {args.rate} records/s, "
          f"{args.seconds} s per run, {args.shards} shards)")
    print("| " + " | ".join(["build"] + keys) + " |")
    print("|" + "---|" * (len(keys) + 1))
    for label, _, _ in binaries:
        mine = [r for r in runs if r["label"] == label]
        cells = [f"{statistics.median(r[k] for r in mine):.1f}" for k in keys]
        print("| " + " | ".join([label] + cells) + " |")


if __name__ == "__main__":
    main()
