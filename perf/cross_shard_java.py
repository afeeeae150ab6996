#!/usr/bin/env python3
"""Does a Java client's request cross shards, and what does the crossing cost the broker?

A benchmark (issue 14 §1 / issue 11 §4), not a test. Each run starts a broker with
num.shards=2 and its metrics endpoint, then either
  consume: writes a 1-partition topic with `millrace bench` (1 KiB, acks=all, --seconds) and
           reads it all back with kafka-consumer-perf-test, or
  produce: writes --records x 1 KiB with kafka-producer-perf-test (acks=all, --partitions,
           default 1).
Over the Java tool's life it reads, per shard, the metrics (record bytes in = the partition's
owner, record bytes out / request bytes = the shard of the client's data connection, messages
between shards) and the CPU of every broker thread, grouped by the CPU it is pinned to (a
shard's reactor and its send helpers share their shard's one CPU). A run is `crossed` when the
client's data connection is on the shard that does not own the partition. SO_REUSEPORT places
each connection by its port, so both kinds turn up over a few rounds.

  python3 perf/cross_shard_java.py --mode consume --rounds 6 --lock /work/wt/bench.lock \\
      new=target/release/millrace [old=/path/to/other/millrace ...]

Several NAME=BINARY configs alternate round by round (order reversed every other round).
One JSON line per run on stdout; a summary (medians by config and crossed) at the end.
"""
import argparse
import collections
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "perf/peers/kafka.sh"
TICK = os.sysconf("SC_CLK_TCK")
SHARDS = 2
RECORD_BYTES = 1024
START_TIMEOUT_S = 60
PERF_FREQ_HZ = 999
# What a reactor's sleep/wake cycle costs: glommio's membarrier before each sleep, the
# io_uring_enter it sleeps in, the eventfd writes that wake another shard, context switches.
SYSCALL_EVENTS = ("syscalls:sys_enter_membarrier,syscalls:sys_enter_io_uring_enter,"
                  "syscalls:sys_enter_write,context-switches")
TOPIC = "xs-0"
SAMPLE = re.compile(r'^(millrace_[a-z_]+)\{shard="(\d+)"\} (\d+)$')
COUNTERS = {
    "millrace_record_bytes_in_total": "in",
    "millrace_record_bytes_out_total": "out",
    "millrace_request_bytes_total": "req",
    "millrace_cross_shard_messages_sent_total": "xsent",
    "millrace_connections_accepted_total": "conns",
    # O_DIRECT header reads of scans (where a Fetch starts when the offset index does not know
    # it); builds before this counter report 0.
    "millrace_segment_scan_reads_total": "scanreads",
    # Flush rounds that wrote, their bytes, and the batched syncs (builds before a counter
    # report 0 for it).
    "millrace_log_write_rounds_total": "wrounds",
    "millrace_log_write_bytes_total": "wbytes",
    "millrace_sync_batches_total": "sbatches",
    "millrace_sync_batch_files_total": "sfiles",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, process):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"broker exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def scrape(http_port):
    """Per-shard counters: {short name: [value per shard]}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {short: [0] * SHARDS for short in COUNTERS.values()}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) in COUNTERS and int(m.group(2)) < SHARDS:
            out[COUNTERS[m.group(1)]][int(m.group(2))] = int(m.group(3))
    return out


def thread_cpu(pid):
    """CPU seconds per (thread name, pinned CPU list)."""
    out = collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
            name = stat[stat.index("(") + 1:stat.rindex(")")].rstrip("0123456789-_")
            cpus = re.search(r"Cpus_allowed_list:\s*(\S+)", status).group(1)
            fields = stat[stat.rindex(")") + 2:].split()
            out[f"{name}@{cpus}"] += (int(fields[11]) + int(fields[12])) / TICK
    return out


def delta(after, before):
    return {k: [a - b for a, b in zip(after[k], before[k])] for k in after}


def tool(kind, *args):
    main = {"produce": "org.apache.kafka.tools.ProducerPerformance",
            "consume": "org.apache.kafka.tools.ConsumerPerformance"}[kind]
    return [str(KAFKA_SH), "tool", main, *args]


def fill_topic(binary, bootstrap, work, seconds):
    """Writes TOPIC with `millrace bench`; the record bytes and records it wrote."""
    out = work / "bench"
    subprocess.run([str(binary), "bench", "--bootstrap", bootstrap, "--name", "fill",
                    "--topic-prefix", "xs", "--delete-topics", "false", "--output", str(out),
                    "--message-size", str(RECORD_BYTES), "--acks", "all",
                    "--partitions-per-topic", "1", "--consumers-per-topic", "0",
                    "--duration", f"{seconds}s", "--warmup", "0s"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    produced = json.loads((out / "result.json").read_text())["produce"]
    return produced["bytes"], produced["msgs"]


def run_java(mode, args, bootstrap, binary, work):
    """Runs the Java tool; (payload bytes, its MB/s, its stdout)."""
    if mode == "consume":
        payload, records = fill_topic(binary, bootstrap, work, args.seconds)
        argv = tool("consume", "--bootstrap-server", bootstrap, "--topic", TOPIC,
                    "--messages", str(records), "--timeout", "30000")
    else:
        subprocess.run([str(binary), "topic", "create", TOPIC, "--partitions", str(args.partitions),
                        "--bootstrap", bootstrap], check=True, capture_output=True)
        payload = args.records * RECORD_BYTES
        argv = tool("produce", "--bootstrap-server", bootstrap, "--topic", TOPIC,
                    "--num-records", str(args.records), "--record-size", str(RECORD_BYTES),
                    "--throughput", "-1", "--command-property", "acks=all")
    return payload, argv


def mb_per_s(mode, stdout):
    if mode == "consume":
        rows = [line.split(", ") for line in stdout.splitlines() if line[:1].isdigit()]
        return float(rows[-1][3]) * 1.048576 if rows else None
    found = re.findall(r"records/sec \(([\d.]+) MB/sec\)", stdout)
    return float(found[-1]) * 1.048576 if found else None


def start_profiler(args, name, pid):
    """`perf record` of the broker over the Java tool's life (with --perf DIR)."""
    if not args.perf:
        return None
    Path(args.perf).mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%H%M%S")
    out = Path(args.perf) / f"{name}-{stamp}.data"
    if args.perf_stat:
        argv = ["perf", "stat", "--per-thread", "-e", SYSCALL_EVENTS, "-p", str(pid),
                "-o", str(out.with_suffix(".txt"))]
    else:
        events = ["-e", args.perf_events] if args.perf_events else ["-F", str(PERF_FREQ_HZ)]
        argv = ["perf", "record", *events, "-g", "-p", str(pid), "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def one_run(name, binary, args):
    work = Path(tempfile.mkdtemp(prefix="xshard."))
    port, http_port = free_port(), free_port()
    argv = [str(binary), "serve",
            "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
            "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "--override", f"log.dirs={work}/data", "--override", "log.level=warn",
            "--override", f"num.shards={SHARDS}",
            "--override", f"http.listener=127.0.0.1:{http_port}"]
    broker = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, broker)
        bootstrap = f"127.0.0.1:{port}"
        fill_before = scrape(http_port)
        payload, java = run_java(args.mode, args, bootstrap, binary, work)
        owner_counts = delta(scrape(http_port), fill_before)["in"]
        profiler = start_profiler(args, name, broker.pid)
        metrics0, cpu0, t0 = scrape(http_port), thread_cpu(broker.pid), time.monotonic()
        done = subprocess.run(java, capture_output=True, text=True)
        wall = time.monotonic() - t0
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait()
        metrics, cpu = delta(scrape(http_port), metrics0), thread_cpu(broker.pid)
        if args.mode == "produce":
            owner_counts = metrics["in"]
        owner = max(range(SHARDS), key=lambda s: owner_counts[s])
        data_key = "out" if args.mode == "consume" else "req"
        conn = max(range(SHARDS), key=lambda s: metrics[data_key][s])
        gb = payload / 1e9
        return {
            "config": name, "at": time.strftime("%H:%M:%S"), "mode": args.mode, "load": os.getloadavg()[0],
            "owner_shard": owner, "data_conn_shard": conn, "crossed": owner != conn,
            "mb_per_s": mb_per_s(args.mode, done.stdout), "wall_s": round(wall, 2),
            "gb": round(gb, 3),
            "cpu_s_per_gb": {k: round((cpu[k] - cpu0.get(k, 0)) / gb, 3)
                             for k in sorted(cpu) if cpu[k] - cpu0.get(k, 0) > 0},
            "xshard_msgs_per_gb": round(sum(metrics["xsent"]) / gb),
            "metrics": metrics,
            "java_rc": done.returncode,
        }
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(work, ignore_errors=True)


def summary(rows):
    groups = collections.defaultdict(list)
    for row in rows:
        groups[(row["config"], row["crossed"])].append(row)
    print("\nconfig crossed runs | MB/s median (all) | reactor CPU s/GB median | total CPU s/GB median")
    for (config, crossed), runs in sorted(groups.items()):
        def shard_cpu(r):
            return sum(v for k, v in r["cpu_s_per_gb"].items() if k.startswith("millrace-shard@"))

        def total_cpu(r):
            return sum(r["cpu_s_per_gb"].values())
        mbs = [r["mb_per_s"] for r in runs if r["mb_per_s"]]
        print(f"{config} {crossed} {len(runs)} | {statistics.median(mbs) if mbs else None:.1f} "
              f"({', '.join(f'{m:.0f}' for m in mbs)}) | "
              f"{statistics.median(map(shard_cpu, runs)):.3f} | {statistics.median(map(total_cpu, runs)):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", help="NAME=BINARY")
    parser.add_argument("--mode", choices=["consume", "produce"], default="consume")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=4, help="consume: bench fill time")
    parser.add_argument("--records", type=int, default=500_000, help="produce: records")
    parser.add_argument("--partitions", type=int, default=1,
                        help="produce: partitions of the topic (past 1, every request crosses shards "
                             "in part, and `crossed` only names the busier shard)")
    parser.add_argument("--lock", help="flock this file around each run")
    parser.add_argument("--perf", help="perf record the broker into this folder, one file per run")
    parser.add_argument("--perf-stat", action="store_true",
                        help="with --perf: count syscalls per thread (perf stat) instead")
    parser.add_argument("--perf-events", help="with --perf: record these events, not CPU time")
    args = parser.parse_args()
    configs = [c.split("=", 1) for c in args.configs]
    rows = []
    for round_index in range(args.rounds):
        for name, binary in (configs if round_index % 2 == 0 else configs[::-1]):
            with open(args.lock or os.devnull, "a") as lock:
                if args.lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                row = one_run(name, Path(binary).resolve(), args)
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary(rows)


if __name__ == "__main__":
    sys.exit(main())
