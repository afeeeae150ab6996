#!/usr/bin/env python3
"""Header reads per Fetch of data written before a restart, A/B (issue 14 §1): for each binary a
`millrace serve` (num.shards=1, its metrics endpoint on) gets a 1-partition topic of --records
records of --value-bytes (acks=all, small segments: several sealed ones), is stopped cleanly and
started again, then one confluent-kafka consumer reads the partition from the beginning twice (a
first pass, a pause of --pause-s, a second pass). Per pass: Fetch requests, O_DIRECT header reads
of Fetch scans (`millrace_segment_scan_reads_total`) and of index base fills
(`millrace_index_base_fill_reads_total`, absent before the fill existed). Wrap it in the bench lock:

    flock /work/wt/bench.lock target/test-venv/bin/python perf/scan_reads_after_restart.py \
        --binary A=/tmp/old-millrace --binary B=target/release/millrace
"""

import argparse
import json
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import conftest  # noqa: E402

TOPIC = "scan-reads"
SEGMENT_BYTES = 8 << 20
TIMEOUT_S = 60


def metric_sum(http_port, name, label_filter=""):
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and label_filter in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def counters(http_port):
    return {
        "fetches": metric_sum(http_port, "millrace_requests_total{", 'api="Fetch"'),
        "scan_reads": metric_sum(http_port, "millrace_segment_scan_reads_total"),
        "fill_reads": metric_sum(http_port, "millrace_index_base_fill_reads_total"),
    }


def fill(bootstrap, records, value_bytes):
    admin = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    admin.create_topics([NewTopic(TOPIC, 1, replication_factor=1,
                                  config={"segment.bytes": str(SEGMENT_BYTES)})])[TOPIC].result(TIMEOUT_S)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "broker.address.family": "v4"})
    value = b"x" * value_bytes
    for i in range(records):
        while True:
            try:
                producer.produce(TOPIC, value=value, key=str(i).encode(), partition=0)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(TIMEOUT_S) == 0


def read_all(bootstrap, records):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g{time.monotonic_ns()}",
                         "enable.auto.commit": False, "broker.address.family": "v4"})
    consumer.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    seen = 0
    deadline = time.monotonic() + TIMEOUT_S
    while seen < records and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=0.5):
            if msg.error() is None:
                seen += 1
    consumer.close()
    assert seen == records, f"read {seen} of {records}"


def measure(label, binary, root, args):
    conftest.BROKER_BINARY = Path(binary).resolve()
    data_dir = Path(root) / label / "data"
    data_dir.mkdir(parents=True)
    http_port = conftest.free_port()
    broker = conftest.Broker(data_dir, data_dir.parent / "stderr.log",
                             {"num.shards": 1, "http.listener": f"127.0.0.1:{http_port}"})
    broker.start()
    try:
        fill(broker.bootstrap, args.records, args.value_bytes)
        broker.restart()
        passes = []
        before = counters(http_port)
        for index in range(2):
            if index:
                time.sleep(args.pause_s)
                before = counters(http_port)
            read_all(broker.bootstrap, args.records)
            after = counters(http_port)
            delta = {key: after[key] - before[key] for key in after}
            delta["scan_reads_per_fetch"] = round(delta["scan_reads"] / max(delta["fetches"], 1), 3)
            passes.append(delta)
        segments = len(list((data_dir / f"{TOPIC}-0").glob("*.log")))
        return {"binary": label, "segments": segments, "passes": passes}
    finally:
        broker.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", required=True, help="LABEL=PATH, repeated")
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--pause-s", type=float, default=2.0)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="scan-reads-")
    for spec in args.binary:
        label, path = spec.split("=", 1)
        print(json.dumps(measure(label, path, root, args)), flush=True)
    print(f"data: {root}")


if __name__ == "__main__":
    main()
