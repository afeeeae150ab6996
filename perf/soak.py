#!/usr/bin/env python3
"""Soak: N minutes of produce + consume at a fraction (default 70%) of the measured maximum,
sampling the broker's RSS and the produce and end-to-end p99 every second into a CSV; at the
end a trend check (least-squares slope of RSS) and an error count decide PASS or FAIL.

    target/test-venv/bin/python perf/soak.py --minutes 10 --csv target/soak.csv

The script starts its own broker (target/release/millrace, fresh data dir, retention small
enough that the disk stays bounded) unless --bootstrap and --broker-pid name a running one.
Producers (idempotent, acks=all) and consumers run in separate processes so Python's GIL does
not cap the load. "Maximum" is what these producers reach unthrottled in a calibration phase
(--calibrate-s), so it is the client-and-broker maximum on this machine; --rate skips it.

For hours: --minutes 240 (the CSV grows by one line a second; disk use is bounded by
--retention-bytes per partition). Exit code 0 = PASS, 1 = FAIL, 2 = could not run.
"""

import argparse
import csv
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO_ROOT / "target" / "release" / "millrace"
TOPIC = "soak"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
REPORT_INTERVAL_S = 1.0
PACING_TICK_S = 0.01
WARMUP_FRACTION = 0.1
# RSS may not grow faster than this (projected per hour) after warm-up...
RSS_GROWTH_MIB_PER_HOUR_MAX = 64.0
# ...nor end more than this fraction above the median of the steady state.
RSS_END_OVER_MEDIAN_MAX = 0.10
QUEUE_DRAIN_TIMEOUT_S = 30.0
LATENCY_SAMPLES_PER_REPORT_MAX = 20_000


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_broker(binary, work_dir, shards):
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    overrides = {
        "listeners": f"PLAINTEXT://{bootstrap}",
        "log.dirs": str(work_dir / "data"),
        "num.shards": str(shards),
        "log.retention.check.interval.ms": "5000",
    }
    cmd = [str(binary), "serve"]
    for key, value in overrides.items():
        cmd += ["--override", f"{key}={value}"]
    log = open(work_dir / "broker.log", "wb")
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"broker exited with {process.returncode}; see {work_dir / 'broker.log'}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return bootstrap, process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("broker did not start")


def create_topic(bootstrap, partitions, retention_bytes, segment_bytes):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    config = {"retention.bytes": str(retention_bytes), "segment.bytes": str(segment_bytes)}
    futures = admin.create_topics([NewTopic(TOPIC, num_partitions=partitions, replication_factor=1, config=config)])
    futures[TOPIC].result(timeout=30)


def memory_status(pid):
    """{"VmRSS": bytes, "RssAnon": ..., "RssFile": ...} of a process; empty once it is gone."""
    wanted = ("VmRSS:", "RssAnon:", "RssFile:")
    found = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(wanted):
                    found[line.split(":")[0]] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return found


def rss_bytes(pid):
    return memory_status(pid).get("VmRSS", 0)


def producer_main(bootstrap, index, rate_per_s, record_bytes, duration_s, reports):
    """Produces at rate_per_s (0 = unthrottled) for duration_s; every second puts
    ("produce", index, acked, errors, latencies_ms) on `reports`."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "broker.address.family": "v4",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "queue.buffering.max.messages": 100_000,
            "log_level": 3,
        }
    )
    state = {"acked": 0, "errors": 0, "latencies": []}

    def on_delivery(err, msg):
        if err is not None:
            state["errors"] += 1
            return
        state["acked"] += 1
        if len(state["latencies"]) < LATENCY_SAMPLES_PER_REPORT_MAX:
            state["latencies"].append(msg.latency() * 1000)

    payload = os.urandom(record_bytes)
    started = time.monotonic()
    next_report = started + REPORT_INTERVAL_S
    sent = 0
    while True:
        now = time.monotonic()
        if now - started >= duration_s:
            break
        if now >= next_report:
            reports.put(("produce", index, state["acked"], state["errors"], state["latencies"]))
            state.update(acked=0, errors=0, latencies=[])
            next_report += REPORT_INTERVAL_S
        if rate_per_s and sent >= (now - started) * rate_per_s:
            producer.poll(PACING_TICK_S)
            continue
        try:
            producer.produce(TOPIC, value=payload, on_delivery=on_delivery)
            sent += 1
        except BufferError:
            producer.poll(PACING_TICK_S)
        producer.poll(0)
    producer.flush(QUEUE_DRAIN_TIMEOUT_S)
    reports.put(("produce", index, state["acked"], state["errors"], state["latencies"]))


def consumer_main(bootstrap, index, partitions, duration_s, reports):
    """Reads its share of partitions from the end for duration_s; every second puts
    ("consume", index, records, errors, end_to_end_latencies_ms) on `reports`."""
    from confluent_kafka import OFFSET_END, Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "broker.address.family": "v4",
            "group.id": f"soak-unused-{index}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
            "log_level": 3,
        }
    )
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_END) for p in partitions])
    records, errors, latencies = 0, 0, []
    started = time.monotonic()
    next_report = started + REPORT_INTERVAL_S
    while time.monotonic() - started < duration_s:
        for msg in consumer.consume(num_messages=10_000, timeout=0.1):
            err = msg.error()
            if err is None:
                records += 1
                if len(latencies) < LATENCY_SAMPLES_PER_REPORT_MAX:
                    latencies.append(time.time() * 1000 - msg.timestamp()[1])
            elif err.code() != KafkaError._PARTITION_EOF:
                errors += 1
        if time.monotonic() >= next_report:
            reports.put(("consume", index, records, errors, latencies))
            records, errors, latencies = 0, 0, []
            next_report += REPORT_INTERVAL_S
    consumer.close()
    reports.put(("consume", index, records, errors, latencies))


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_load(args, bootstrap, rate_total, duration_s, broker_pid, csv_path=None):
    """Runs producers and consumers for duration_s; returns the per-second rows."""
    reports = multiprocessing.Queue()
    per_producer = rate_total / args.producers if rate_total else 0
    workers = [
        multiprocessing.Process(
            target=producer_main, args=(bootstrap, i, per_producer, args.record_bytes, duration_s, reports)
        )
        for i in range(args.producers)
    ]
    for i in range(args.consumers):
        share = list(range(i, args.partitions, args.consumers))
        workers.append(multiprocessing.Process(target=consumer_main, args=(bootstrap, i, share, duration_s + 2, reports)))
    for worker in workers:
        worker.start()
    rows = []
    writer, out = None, None
    if csv_path:
        out = open(csv_path, "w", newline="")
        writer = csv.writer(out)
        writer.writerow(ROW_FIELDS)
    started = time.monotonic()
    try:
        while any(w.is_alive() for w in workers) or not reports.empty():
            second_end = started + (len(rows) + 1) * REPORT_INTERVAL_S
            row = collect_second(reports, second_end, broker_pid, time.monotonic() - started)
            rows.append(row)
            if writer:
                writer.writerow([row[f] for f in ROW_FIELDS])
                out.flush()
            if broker_pid and rss_bytes(broker_pid) == 0:
                raise RuntimeError("broker is gone")
    finally:
        for worker in workers:
            worker.join(QUEUE_DRAIN_TIMEOUT_S)
            if worker.is_alive():
                worker.terminate()
        if out:
            out.close()
    return rows


ROW_FIELDS = [
    "elapsed_s",
    "rss_bytes",
    "rss_anon_bytes",
    "rss_file_bytes",
    "produced",
    "produce_errors",
    "produce_p50_ms",
    "produce_p99_ms",
    "consumed",
    "consume_errors",
    "e2e_p99_ms",
]


def collect_second(reports, second_end, broker_pid, elapsed_s):
    produced = produce_errors = consumed = consume_errors = 0
    produce_latencies, e2e_latencies = [], []
    while True:
        left = second_end - time.monotonic()
        try:
            kind, _, count, errors, latencies = reports.get(timeout=max(left, 0.001))
        except queue.Empty:
            break
        if kind == "produce":
            produced += count
            produce_errors += errors
            produce_latencies += latencies
        else:
            consumed += count
            consume_errors += errors
            e2e_latencies += latencies
        if left <= 0:
            break
    memory = memory_status(broker_pid) if broker_pid else {}
    return {
        "elapsed_s": round(elapsed_s, 1),
        "rss_bytes": memory.get("VmRSS", 0),
        "rss_anon_bytes": memory.get("RssAnon", 0),
        "rss_file_bytes": memory.get("RssFile", 0),
        "produced": produced,
        "produce_errors": produce_errors,
        "produce_p50_ms": round(percentile(produce_latencies, 0.50), 2),
        "produce_p99_ms": round(percentile(produce_latencies, 0.99), 2),
        "consumed": consumed,
        "consume_errors": consume_errors,
        "e2e_p99_ms": round(percentile(e2e_latencies, 0.99), 2),
    }


def slope_per_s(points):
    """Least-squares slope of (x, y) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x if var_x else 0.0


def judge(rows, rate_total):
    """(ok, summary lines) from the per-second rows."""
    steady = rows[int(len(rows) * WARMUP_FRACTION) :]
    rss = [(r["elapsed_s"], r["rss_bytes"]) for r in steady if r["rss_bytes"]]
    growth_mib_per_hour = slope_per_s(rss) * 3600 / (1 << 20)
    rss_values = [y for _, y in rss] or [0]
    median_rss = statistics.median(rss_values)
    end_over_median = (rss_values[-1] - median_rss) / median_rss if median_rss else 0.0
    errors = sum(r["produce_errors"] + r["consume_errors"] for r in rows)
    produced = sum(r["produced"] for r in rows)
    consumed = sum(r["consumed"] for r in rows)
    p99s = [r["produce_p99_ms"] for r in steady if r["produced"]]
    half = len(p99s) // 2
    checks = {
        "no errors": errors == 0,
        f"RSS slope <= {RSS_GROWTH_MIB_PER_HOUR_MAX} MiB/h": growth_mib_per_hour <= RSS_GROWTH_MIB_PER_HOUR_MAX,
        f"final RSS <= median + {RSS_END_OVER_MEDIAN_MAX:.0%}": end_over_median <= RSS_END_OVER_MEDIAN_MAX,
        "consumers kept up (consumed >= 99% of produced)": consumed >= 0.99 * produced,
    }
    lines = [
        f"target rate {rate_total:.0f} records/s; achieved {produced / max(len(rows), 1):.0f} produced/s, "
        f"{consumed / max(len(rows), 1):.0f} consumed/s over {len(rows)} s",
        f"produced {produced}, consumed {consumed}, errors {errors}",
        f"RSS: min {min(rss_values) / (1 << 20):.1f} MiB, median {median_rss / (1 << 20):.1f} MiB, "
        f"max {max(rss_values) / (1 << 20):.1f} MiB, end {rss_values[-1] / (1 << 20):.1f} MiB; "
        f"slope after warm-up {growth_mib_per_hour:+.2f} MiB/h",
        f"produce p99 (per-second values, median): first half {statistics.median(p99s[:half] or [0]):.1f} ms, "
        f"second half {statistics.median(p99s[half:] or [0]):.1f} ms; worst second {max(p99s or [0]):.1f} ms",
    ]
    lines += [f"{'ok  ' if passed else 'FAIL'} {name}" for name, passed in checks.items()]
    return all(checks.values()), lines


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fraction", type=float, default=0.7, help="of the calibrated maximum")
    parser.add_argument("--rate", type=float, default=0, help="records/s in total; skips calibration")
    parser.add_argument("--calibrate-s", type=float, default=20.0)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--record-bytes", type=int, default=256)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--retention-bytes", type=int, default=128 << 20, help="per partition")
    parser.add_argument("--segment-bytes", type=int, default=32 << 20)
    parser.add_argument("--csv", default="target/soak.csv")
    parser.add_argument("--binary", default=str(DEFAULT_BINARY))
    parser.add_argument("--bootstrap", default="", help="use a running broker (with --broker-pid)")
    parser.add_argument("--broker-pid", type=int, default=0)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    work_dir = None
    broker = None
    try:
        if args.bootstrap:
            bootstrap, broker_pid = args.bootstrap, args.broker_pid
        else:
            work_dir = Path(tempfile.mkdtemp(prefix="millrace-soak-"))
            bootstrap, broker = start_broker(args.binary, work_dir, args.shards)
            broker_pid = broker.pid
        create_topic(bootstrap, args.partitions, args.retention_bytes, args.segment_bytes)
        rate = args.rate
        if not rate:
            calibration = run_load(args, bootstrap, 0, args.calibrate_s, broker_pid)
            busy = calibration[1:-1] or calibration
            maximum = statistics.median(r["produced"] for r in busy)
            rate = args.fraction * maximum
            print(f"calibration: median {maximum:.0f} acknowledged records/s unthrottled; target {rate:.0f}/s", flush=True)
        rows = run_load(args, bootstrap, rate, args.minutes * 60, broker_pid, csv_path=args.csv)
        ok, lines = judge(rows, rate)
        if broker is not None:
            broker.send_signal(signal.SIGTERM)
            code = broker.wait(timeout=STOP_TIMEOUT_S)
            lines.append(f"{'ok  ' if code == 0 else 'FAIL'} broker exit code after SIGTERM: {code}")
            ok = ok and code == 0
    except (RuntimeError, OSError) as err:
        print(f"soak could not run: {err}", file=sys.stderr)
        return 2
    finally:
        if broker is not None and broker.poll() is None:
            broker.kill()
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(f"{'PASS' if ok else 'FAIL'}: soak {args.minutes:g} min, CSV {args.csv}")
    for line in lines:
        print(f"  {line}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
