#!/usr/bin/env python3
"""millrace beside Apache Kafka: the same workloads, the same clients, one machine, one run.

Started by perf/peers/compare.sh (which builds millrace and resolves Kafka's jars first); see
its header for the flags. Both brokers run for the whole comparison, each on its own free port
and fresh data directory:
  - millrace `serve` with its defaults (acks=all answers after fdatasync; acks=1 after the
    O_DIRECT write, no fsync);
  - Apache Kafka from perf/peers/kafka.sh, one KRaft node, with the JVM heap of Kafka's
    production advice and its default flush settings (no fsync before any answer).
Every case runs `runs` times per broker, alternating A/B/A/B (millrace, Kafka, millrace, ...),
each round (one run on each broker) under the bench lock when one is given. For every run the
broker's CPU time (utime+stime of /proc/PID/stat) and resident memory (VmRSS of
/proc/PID/status, sampled every SAMPLE_INTERVAL_S) are recorded around the client.
Writes OUT/runs.jsonl (one line per run, every figure), OUT/summary.md (medians and ratios
millrace / Kafka), OUT/machine.txt, and OUT/latency/compare.svg + .png (both brokers' latency
spectra at the fixed rate, the median run of each).
"""

import argparse
import collections
import contextlib
import fcntl
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
MILLRACE = REPO / "target/release/millrace"
KAFKA_SH = REPO / "perf/peers/kafka.sh"
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
BYTES_PER_MB = 1_000_000  # as both clients report MB/s
BYTES_PER_GB = 1_000_000_000
SAMPLE_INTERVAL_S = 0.1
BROKER_START_TIMEOUT_S = 60
# A client run that takes longer than this is killed and counted as failed.
CLIENT_TIMEOUT_S = 300
# Kafka's production JVM settings (docs, "Java Version": "-Xmx6g -Xms6g -XX:MetaspaceSize=96m
# -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
# -XX:G1HeapRegionSize=16M -XX:MinMetaspaceFreeRatio=50 -XX:MaxMetaspaceFreeRatio=80");
# kafka.sh adds the G1 flags itself. 6 GiB is also a quarter of this machine's 24 GiB, leaving
# the rest to the page cache Kafka relies on.
KAFKA_HEAP_OPTS = (
    "-Xmx6g -Xms6g -XX:MetaspaceSize=96m -XX:G1HeapRegionSize=16M "
    "-XX:MinMetaspaceFreeRatio=50 -XX:MaxMetaspaceFreeRatio=80"
)
# Not a flush setting: deleted topics' files go after 1 s instead of 60 s, so back-to-back
# runs do not fill the shared disk. Kafka deletes them in the background either way.
KAFKA_OVERRIDES = ["file.delete.delay.ms=1000"]
KAFKA_TOOLS = {
    "produce": "org.apache.kafka.tools.ProducerPerformance",
    "consume": "org.apache.kafka.tools.ConsumerPerformance",
}


def log(message):
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ broker processes


class Broker:
    """A running broker: its name, pid and bootstrap address."""

    def __init__(self, name, label, pid, bootstrap, client=MILLRACE):
        self.name = name
        self.label = label
        self.pid = pid
        self.bootstrap = bootstrap
        # The binary whose `millrace bench` drives this broker (--base: the base build's own).
        self.client = client

    def cpu_s(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15; fields[0] here is field 3 (state).
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S

    def memory_kib(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"{key} not in /proc/{self.pid}/status")

    def alive(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False


def wait_port(port, process=None):
    deadline = time.monotonic() + BROKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"broker exited with {process.returncode} before opening {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {BROKER_START_TIMEOUT_S}s")


def start_millrace(work, binary=MILLRACE, name="millrace"):
    port = free_port()
    data = work / f"{name}-data"
    shutil.rmtree(data, ignore_errors=True)
    stderr = open(work / f"{name}.stderr", "w")
    argv = [
        str(binary), "serve",
        "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
        "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "--override", f"log.dirs={data}",
        "--override", "log.level=warn",
        "--override", "http.listener=",
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    wait_port(port, process)
    label = "millrace (fsync before acks=all)" if name == "millrace" else f"{name} ({binary})"
    broker = Broker(name, label, process.pid, f"127.0.0.1:{port}", client=binary)
    broker.process = process
    broker.data = data
    return broker


def kafka_flush():
    """Kafka's flush settings as run: its defaults (no fsync before an answer) unless
    --kafka-override set log.flush.* keys."""
    flush = [kv for kv in KAFKA_OVERRIDES if kv.startswith("log.flush.")]
    return ", ".join(flush) if flush else "no fsync"


def start_kafka(work):
    run_dir = work / "kafka"
    for _ in range(5):
        port, controller = free_port(), free_port()
        env = dict(os.environ, KAFKA_HEAP_OPTS=KAFKA_HEAP_OPTS)
        argv = [str(KAFKA_SH), "start", "--port", str(port), "--controller-port", str(controller),
                "--dir", str(run_dir), "--fresh", "--stop-with", str(os.getpid())]
        for kv in KAFKA_OVERRIDES:
            argv += ["--override", kv]
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode == 0:
            pid = int((run_dir / "node-0/kafka.pid").read_text().strip())
            broker = Broker("kafka", f"Apache Kafka 4.4.0 ({kafka_flush()})", pid, f"127.0.0.1:{port}")
            broker.run_dir = run_dir
            return broker
        if done.returncode != 3:  # 3: a port was taken meanwhile; try others
            raise RuntimeError(f"kafka.sh start failed:\n{done.stderr}")
    raise RuntimeError("kafka.sh start: ports kept being taken")


def stop_brokers(brokers):
    for broker in brokers:
        if broker.name in ("millrace", "base") and broker.process.poll() is None:
            broker.process.send_signal(signal.SIGTERM)
            try:
                broker.process.wait(60)
            except subprocess.TimeoutExpired:
                broker.process.kill()
            shutil.rmtree(broker.data, ignore_errors=True)
        elif broker.name == "kafka":
            subprocess.run([str(KAFKA_SH), "stop", "--dir", str(broker.run_dir)],
                           stdout=subprocess.DEVNULL, check=False)
            shutil.rmtree(broker.run_dir, ignore_errors=True)


class Sampler(threading.Thread):
    """Samples a broker's resident memory while a client runs; keeps the peak."""

    def __init__(self, broker):
        super().__init__(daemon=True)
        self.broker = broker
        self.peak_rss_kib = 0
        self.samples = []  # (monotonic s, cpu s)
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self.peak_rss_kib = max(self.peak_rss_kib, self.broker.memory_kib("VmRSS"))
                self.samples.append((time.monotonic(), self.broker.cpu_s()))
            self.halt.wait(SAMPLE_INTERVAL_S)

    def cpu_between(self, start, end):
        """CPU seconds the broker used between two monotonic times (sample resolution)."""
        inside = [cpu for t, cpu in self.samples if start <= t <= end]
        before = [cpu for t, cpu in self.samples if t <= start]
        first = before[-1] if before else (inside[0] if inside else 0.0)
        return (inside[-1] - first) if inside else 0.0


def measured(broker, argv, timeout=CLIENT_TIMEOUT_S, env=None):
    """Runs a client; returns its stdout and stderr and the broker's cost while it ran."""
    sampler = Sampler(broker)
    cpu_before = broker.cpu_s()
    sampler.start()
    started = time.monotonic()
    # Its own process group: kafka.sh runs java as a child, and both go if this run is cut.
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        stdout, stderr = client.communicate(timeout=timeout)
        status = client.returncode
    except subprocess.TimeoutExpired:
        os.killpg(client.pid, signal.SIGKILL)
        stdout, stderr = client.communicate()
        status = "timeout"
    except BaseException:
        os.killpg(client.pid, signal.SIGKILL)
        raise
    ended = time.monotonic()
    cpu_after = broker.cpu_s()
    sampler.halt.set()
    sampler.join()
    if not broker.alive():
        raise RuntimeError(f"{broker.name} (pid {broker.pid}) died during {argv[:3]}")
    return {
        "status": status,
        "stdout": stdout,
        "stderr": stderr,
        "wall_s": ended - started,
        "broker_cpu_s": cpu_after - cpu_before,
        "broker_peak_rss_mib": sampler.peak_rss_kib / 1024,
        "sampler": sampler,
        "ended": ended,
    }


# ------------------------------------------------------------------ clients


def millrace_cli(*args):
    done = subprocess.run([str(MILLRACE), *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"millrace {' '.join(args)}: {done.stderr.strip()}")


def kafka_tool(kind):
    return [str(KAFKA_SH), "tool", KAFKA_TOOLS[kind]]


PRODUCER_PERF_LINE = re.compile(
    r"(?P<records>\d+) (?:steady state )?records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99.9th"
)


def parse_producer_perf(stdout):
    """The last summary line of kafka-producer-perf-test: with --warmup-records, the steady
    state after the warm-up records."""
    found = list(PRODUCER_PERF_LINE.finditer(stdout))
    if not found:
        raise ValueError("no summary line in kafka-producer-perf-test's output")
    m = found[-1]
    return {
        "msgs_per_s": float(m["rate"]),
        "mb_per_s": float(m["mb"]) * 1024 * 1024 / BYTES_PER_MB,  # the tool's MB is MiB
        "publish_p50_ms": float(m["p50"]),
        "publish_p99_ms": float(m["p99"]),
        "publish_p999_ms": float(m["p999"]),
        "records": int(m["records"]),
    }


def parse_consumer_perf(stdout):
    lines = [line for line in stdout.splitlines() if line.strip()]
    header = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    if header is None or header + 1 >= len(lines):
        raise ValueError("no result line in kafka-consumer-perf-test's output")
    names = [n.strip() for n in lines[header].split(",")]
    values = [v.strip() for v in lines[header + 1].split(",")]
    row = dict(zip(names, values))
    return {
        "consumed_msgs": int(row["data.consumed.in.nMsg"]),
        "consumed_mb": float(row["data.consumed.in.MB"]) * 1024 * 1024 / BYTES_PER_MB,
        # fetch.*: without the group join, which is the same wait on both brokers.
        "consume_mb_per_s": float(row["fetch.MB.sec"]) * 1024 * 1024 / BYTES_PER_MB,
        "consume_msgs_per_s": float(row["fetch.nMsg.sec"]),
    }


def bench_result(out_dir):
    with open(out_dir / "result.json") as f:
        return json.load(f)


def latency_figures(result):
    figures = {}
    for key, section in (("publish", "publish_latency_ms"), ("e2e", "e2e_latency_ms")):
        for p, name in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999")):
            figures[f"{key}_{name}_ms"] = result[section][p]
    return figures


# ------------------------------------------------------------------ cases
#
# A case runs once on a broker and returns a dict of figures. Every figure named *_per_s is
# "higher is better"; everything else (latency, cpu per GB, rss) is "lower is better".


# name: what it measures; driver: the client; run(broker, tag, out) -> figures; describe: text.
Case = collections.namedtuple("Case", "name driver run describe")


def bench_argv(broker, tag, out, *flags):
    """`millrace bench` against BROKER: topics TAG-*, deleted after, results in OUT."""
    return [str(broker.client), "bench", "--bootstrap", broker.bootstrap, "--name", broker.label,
            "--topic-prefix", tag, "--delete-topics", "true", "--output", str(out), *flags]


def produce_settings(size, acks, partitions):
    return f"{size} B records, acks={acks}, {partitions} partition(s)"


def bench_produce_case(cfg, size, acks, partitions):
    def run(broker, tag, out):
        argv = bench_argv(broker, tag, out, "--message-size", str(size), "--acks", acks,
                          "--partitions-per-topic", str(partitions), "--consumers-per-topic", "0",
                          "--warmup", cfg.warmup, "--duration", cfg.duration)
        m = measured(broker, argv)
        check(m, "millrace bench")
        result = bench_result(out)
        gb = result["produce"]["bytes"] / BYTES_PER_GB
        # The client's whole life includes set-up and warm-up: charge the broker's CPU over the
        # measured window only, from the samples (end = the client's exit, minus teardown ~0).
        window_s = result["measured_duration_s"]
        cpu = m["sampler"].cpu_between(m["ended"] - window_s - 0.3, m["ended"])
        return {
            "msgs_per_s": result["produce"]["msgs_per_s"],
            "mb_per_s": result["produce"]["mb_per_s"],
            "publish_p50_ms": result["publish_latency_ms"]["p50"],
            "publish_p99_ms": result["publish_latency_ms"]["p99"],
            "broker_cpu_s_per_gb": cpu / gb if gb else None,
            "broker_peak_rss_mib": m["broker_peak_rss_mib"],
            "errors": result["errors"],
        }

    name = f"produce-{size}B-acks{acks}-{partitions}p"
    return Case(name, "millrace bench", run, produce_settings(size, acks, partitions))


def producer_perf(broker, tag, out, partitions, records, size, acks, throughput=-1, warmup=0):
    """kafka-producer-perf-test into a new topic TAG-0 (the caller deletes it); its figures."""
    topic = f"{tag}-0"
    millrace_cli("topic", "create", topic, "--partitions", str(partitions),
                 "--bootstrap", broker.bootstrap)
    argv = kafka_tool("produce") + [
        "--bootstrap-server", broker.bootstrap, "--topic", topic,
        "--num-records", str(records), "--record-size", str(size),
        "--throughput", str(throughput), "--command-property", f"acks={acks}",
    ]
    if warmup:
        argv += ["--warmup-records", str(warmup)]
    m = measured(broker, argv)
    check(m, "kafka-producer-perf-test")
    (out / "stdout.txt").write_text(m["stdout"])
    figures = parse_producer_perf(m["stdout"])
    return topic, {
        "msgs_per_s": figures["msgs_per_s"],
        "mb_per_s": figures["mb_per_s"],
        "publish_p50_ms": figures["publish_p50_ms"],
        "publish_p99_ms": figures["publish_p99_ms"],
        "publish_p999_ms": figures["publish_p999_ms"],
        # Over the JVM's whole life: its start-up is idle time for the broker.
        "broker_cpu_s_per_gb": m["broker_cpu_s"] / (records * size / BYTES_PER_GB),
        "broker_peak_rss_mib": m["broker_peak_rss_mib"],
    }


def tools_produce_case(cfg, size, acks, partitions):
    records = cfg.records[size]

    def run(broker, tag, out):
        topic, figures = producer_perf(broker, tag, out, partitions, records, size, acks)
        millrace_cli("topic", "delete", topic, "--bootstrap", broker.bootstrap)
        del figures["publish_p999_ms"]
        return figures

    name = f"produce-{size}B-acks{acks}-{partitions}p"
    return Case(name, "kafka-producer-perf-test", run, produce_settings(size, acks, partitions))


def bench_catchup_case(cfg):
    def run(broker, tag, out):
        argv = bench_argv(broker, tag, out, "--message-size", "1024", "--acks", "all",
                          "--partitions-per-topic", "1", "--consumers-per-topic", "1",
                          "--backlog", "true", "--duration", cfg.duration)
        m = measured(broker, argv)
        check(m, "millrace bench --backlog")
        result = bench_result(out)
        drain_s = max(result["drain_s"], 1e-3)
        consumed, consumed_bytes = result["consume"]["msgs"], result["consume"]["bytes"]
        if consumed < result["produce"]["msgs"]:
            raise RuntimeError(f"drained {consumed} of {result['produce']['msgs']} records")
        # The drain is the last drain_s seconds before the client's exit (topic deletion after
        # it takes milliseconds).
        cpu = m["sampler"].cpu_between(m["ended"] - drain_s - 0.2, m["ended"])
        return {
            "consume_mb_per_s": consumed_bytes / BYTES_PER_MB / drain_s,
            "consume_msgs_per_s": consumed / drain_s,
            "broker_cpu_s_per_gb": cpu / (consumed_bytes / BYTES_PER_GB),
            "broker_peak_rss_mib": m["broker_peak_rss_mib"],
            "errors": result["errors"],
        }

    return Case("catch-up-consume-1024B", "millrace bench", run,
                "produce 1 KiB acks=all to 1 partition for the run's duration, then read it all")


def tools_catchup_case(cfg):
    records = cfg.records[1024]

    def run(broker, tag, out):
        topic, _ = producer_perf(broker, tag, out, 1, records, 1024, "all")
        argv = kafka_tool("consume") + [
            "--bootstrap-server", broker.bootstrap, "--topic", topic,
            "--messages", str(records), "--timeout", "30000",
        ]
        m = measured(broker, argv)
        check(m, "kafka-consumer-perf-test")
        millrace_cli("topic", "delete", topic, "--bootstrap", broker.bootstrap)
        (out / "consumer-stdout.txt").write_text(m["stdout"])
        figures = parse_consumer_perf(m["stdout"])
        if figures["consumed_msgs"] < records:
            raise RuntimeError(f"consumed {figures['consumed_msgs']} of {records} records")
        return {
            "consume_mb_per_s": figures["consume_mb_per_s"],
            "consume_msgs_per_s": figures["consume_msgs_per_s"],
            "broker_cpu_s_per_gb": m["broker_cpu_s"] / (figures["consumed_mb"] * BYTES_PER_MB / BYTES_PER_GB),
            "broker_peak_rss_mib": m["broker_peak_rss_mib"],
        }

    return Case("catch-up-consume-1024B", "kafka-consumer-perf-test", run,
                "kafka-producer-perf-test writes 1 KiB acks=all to 1 partition, then the whole topic is read")


def bench_latency_case(cfg):
    def run(broker, tag, out):
        argv = bench_argv(broker, tag, out, "--message-size", "1024", "--acks", cfg.latency_acks,
                          "--partitions-per-topic", str(cfg.latency_partitions),
                          "--consumers-per-topic", "1", "--rate", str(cfg.latency_rate),
                          "--warmup", cfg.warmup, "--duration", cfg.latency_duration)
        m = measured(broker, argv)
        check(m, "millrace bench --rate")
        result = bench_result(out)
        figures = latency_figures(result)
        gb = result["produce"]["bytes"] / BYTES_PER_GB
        window_s = result["measured_duration_s"]
        cpu = m["sampler"].cpu_between(m["ended"] - window_s - 0.3, m["ended"])
        figures.update({
            "msgs_per_s": result["produce"]["msgs_per_s"],
            "broker_cpu_s_per_gb": cpu / gb if gb else None,
            "broker_peak_rss_mib": m["broker_peak_rss_mib"],
            "target_rate_reached": result["target_rate_reached"],
            "errors": result["errors"],
        })
        return figures

    return Case("latency-fixed-rate", "millrace bench", run, latency_settings(cfg))


def tools_latency_case(cfg):
    warmup = int(cfg.latency_rate * parse_seconds(cfg.warmup))
    records = int(cfg.latency_rate * parse_seconds(cfg.latency_duration)) + warmup

    def run(broker, tag, out):
        topic, figures = producer_perf(broker, tag, out, cfg.latency_partitions, records, 1024,
                                       cfg.latency_acks, cfg.latency_rate, warmup)
        millrace_cli("topic", "delete", topic, "--bootstrap", broker.bootstrap)
        del figures["mb_per_s"]
        return figures

    return Case("latency-fixed-rate", "kafka-producer-perf-test", run, latency_settings(cfg))


def latency_settings(cfg):
    return (f"1 KiB acks={cfg.latency_acks} at {cfg.latency_rate} msg/s, {cfg.latency_partitions} partitions, "
            f"{cfg.latency_duration} after {cfg.warmup} warm-up")


def parse_seconds(text):
    text = text.strip()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    if text.endswith("m"):
        return float(text[:-1]) * 60
    return float(text)


def check(m, what):
    if m["status"] != 0:
        tail = "\n".join((m["stderr"] or m["stdout"]).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} exited with {m['status']}:\n{tail}")


def all_cases(cfg):
    cases = []
    for size in (1024, 100):
        for acks in ("all", "1"):
            for partitions in (1, 16):
                cases.append(bench_produce_case(cfg, size, acks, partitions))
                cases.append(tools_produce_case(cfg, size, acks, partitions))
    cases += [bench_catchup_case(cfg), tools_catchup_case(cfg)]
    cases += [bench_latency_case(cfg), tools_latency_case(cfg)]
    return [c for c in cases if re.search(cfg.only, f"{c.name} {c.driver}")]


# ------------------------------------------------------------------ the run


@contextlib.contextmanager
def bench_lock(path):
    if not path:
        yield
        return
    with open(path, "a") as f:
        waited = time.monotonic()
        fcntl.flock(f, fcntl.LOCK_EX)
        if time.monotonic() - waited > 1:
            log(f"waited {time.monotonic() - waited:.0f}s for {path}")
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def settle(brokers):
    """Between runs: dirty pages written back (Kafka's writes would otherwise be flushed by
    the kernel during the next run, whichever broker it measures)."""
    os.sync()


def warm_up(cfg, brokers, out):
    """One short untimed produce and consume per broker and client: JIT, __consumer_offsets."""
    quick = argparse.Namespace(**vars(cfg))
    quick.duration, quick.warmup, quick.records = "2s", "0s", {1024: 50_000, 100: 50_000}
    for broker in brokers:
        for case in (bench_produce_case(quick, 1024, "all", 1), tools_catchup_case(quick)):
            tag = f"warm-{broker.name}-{case.driver.split()[0]}"
            run_out = out / "warm-up" / tag
            run_out.mkdir(parents=True, exist_ok=True)
            case.run(broker, tag, run_out)
    settle(brokers)


def machine_text(cfg, brokers):
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "\n".join([
        f"date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
        f"commit: {commit}{' (with uncommitted changes)' if dirty else ''}",
        f"machine: {os.cpu_count()} vCPU, {mem_gib:.0f} GiB, {os.uname().release}; "
        f"clients and brokers share the {os.cpu_count()} vCPUs",
        f"load average at start: {' '.join(open('/proc/loadavg').read().split()[:3])}",
        f"java: {java[0] if java else '?'}",
        f"kafka heap: {KAFKA_HEAP_OPTS}; overrides: {' '.join(KAFKA_OVERRIDES)}; flush: {kafka_flush()}",
        f"brokers: {', '.join(f'{b.label} pid {b.pid} at {b.bootstrap}' for b in brokers)}",
        f"command: {' '.join(sys.argv)}",
    ]) + "\n"


def run_all(cfg, out):
    cases = all_cases(cfg)
    if not cases:
        raise SystemExit(f"no case matches --only {cfg.only!r}")
    brokers = []
    try:
        log("starting millrace and Apache Kafka")
        brokers.append(start_millrace(out))
        if cfg.base:
            brokers.append(start_millrace(out, pathlib.Path(cfg.base).resolve(), "base"))
        brokers.append(start_kafka(out))
        (out / "machine.txt").write_text(machine_text(cfg, brokers))
        idle = {b.name: b.memory_kib("VmRSS") / 1024 for b in brokers}
        log(f"idle RSS: {', '.join(f'{n} {v:.0f} MiB' for n, v in idle.items())}")
        if not cfg.no_warm_up:
            with bench_lock(cfg.lock):
                log("warm-up (untimed)")
                warm_up(cfg, brokers, out)
        rows = []
        with open(out / "runs.jsonl", "w") as runs_file:
            for case in cases:
                for run_index in range(cfg.runs):
                    with bench_lock(cfg.lock):
                        load = open("/proc/loadavg").read().split()[0]
                        # A/B/A/B: millrace, then Kafka, every round; with --base the order
                        # rotates by one broker per round.
                        shift = run_index % len(brokers) if cfg.base else 0
                        for broker in brokers[shift:] + brokers[:shift]:
                            tag = f"cmp-{case.name}-{case.driver.split()[0].split('-')[0]}-{broker.name}-{run_index}-{os.getpid()}"
                            run_out = out / "runs" / case.name / case.driver.replace(" ", "-") / f"{broker.name}-{run_index}"
                            run_out.mkdir(parents=True, exist_ok=True)
                            figures = case.run(broker, tag, run_out)
                            row = {"case": case.name, "driver": case.driver, "broker": broker.name,
                                   "run": run_index, "load": float(load), "settings": case.describe,
                                   "dir": str(run_out.relative_to(out)), **figures}
                            rows.append(row)
                            runs_file.write(json.dumps(row) + "\n")
                            runs_file.flush()
                            log(f"{case.name} [{case.driver}] {broker.name} #{run_index}: "
                                + ", ".join(f"{k}={fmt(v)}" for k, v in figures.items()))
                            settle(brokers)
        final = {b.name: {"VmHWM_mib": b.memory_kib("VmHWM") / 1024,
                          "VmRSS_mib": b.memory_kib("VmRSS") / 1024,
                          "idle_rss_mib": idle[b.name]} for b in brokers}
    finally:
        stop_brokers(brokers)
    (out / "memory.json").write_text(json.dumps(final, indent=1))
    summary = summarize(rows, final, cfg)
    (out / "summary.md").write_text((out / "machine.txt").read_text() + "\n" + summary)
    print(summary)
    draw_latency_chart(rows, out)


def fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ------------------------------------------------------------------ summary

HIGHER_IS_BETTER = ("msgs_per_s", "mb_per_s")
COLUMNS = [
    ("mb_per_s", "produce MB/s"),
    ("consume_mb_per_s", "consume MB/s"),
    ("publish_p50_ms", "publish p50 ms"),
    ("publish_p99_ms", "publish p99 ms"),
    ("publish_p999_ms", "publish p99.9 ms"),
    ("e2e_p50_ms", "e2e p50 ms"),
    ("e2e_p99_ms", "e2e p99 ms"),
    ("e2e_p999_ms", "e2e p99.9 ms"),
    ("broker_cpu_s_per_gb", "broker CPU s/GB"),
    ("broker_peak_rss_mib", "broker peak RSS MiB"),
]


def medians(rows, case, driver, broker):
    mine = [r for r in rows if (r["case"], r["driver"], r["broker"]) == (case, driver, broker)]
    result = {}
    for key, _ in COLUMNS:
        values = [r[key] for r in mine if r.get(key) is not None]
        if values:
            result[key] = (statistics.median(values), values)
    return result


# The compact table: one row per case and client, these figures as "millrace / Kafka (ratio)".
COMPACT_COLUMNS = [
    (("mb_per_s", "consume_mb_per_s"), "MB/s"),
    (("publish_p99_ms",), "publish p99 ms"),
    (("e2e_p99_ms",), "e2e p99 ms"),
    (("broker_cpu_s_per_gb",), "broker CPU s/GB"),
    (("broker_peak_rss_mib",), "broker peak RSS MiB"),
]


def compact_table(rows, keys, mine="millrace", theirs="kafka"):
    out = ["| case | client | " + " | ".join(label for _, label in COMPACT_COLUMNS) + " |",
           "|---|---|" + "---|" * len(COMPACT_COLUMNS)]
    for case, driver in keys:
        m = medians(rows, case, driver, mine)
        k = medians(rows, case, driver, theirs)
        cells = []
        for choices, _ in COMPACT_COLUMNS:
            key = next((c for c in choices if c in m and c in k), None)
            if key is None:
                cells.append("")
                continue
            ratio = m[key][0] / k[key][0] if k[key][0] else float("nan")
            cells.append(f"{fmt2(m[key][0])} / {fmt2(k[key][0])} (**{ratio:.2f}**)")
        out.append(f"| {case} | {driver} | " + " | ".join(cells) + " |")
    return out


def summarize(rows, memory, cfg):
    keys = []
    for r in rows:
        if (r["case"], r["driver"]) not in keys:
            keys.append((r["case"], r["driver"]))
    runs = max((r["run"] for r in rows), default=0) + 1
    out = [f"Medians of {runs} run(s) per broker, alternating millrace / Kafka; "
           "ratio = millrace / Kafka (throughput: >1 is better for millrace; latency, CPU and "
           "RSS: <1 is better).", ""]
    out += compact_table(rows, keys)
    if any(r["broker"] == "base" for r in rows):
        out += ["", "The base build (--base, its own `millrace bench`) in the same rounds: "
                "millrace / base, then base / Kafka.", ""]
        out += compact_table(rows, keys, "millrace", "base")
        out += [""] + compact_table(rows, keys, "base", "kafka")
    out += ["", "Every figure, with each run's value:", ""]
    out.append("| case | client | figure | millrace | Kafka | ratio | runs millrace / Kafka |")
    out.append("|---|---|---|---|---|---|---|")
    for case, driver in keys:
        m = medians(rows, case, driver, "millrace")
        k = medians(rows, case, driver, "kafka")
        for key, label in COLUMNS:
            if key not in m or key not in k:
                continue
            ratio = m[key][0] / k[key][0] if k[key][0] else float("nan")
            runs = f"{'/'.join(fmt2(v) for v in m[key][1])} ; {'/'.join(fmt2(v) for v in k[key][1])}"
            out.append(f"| {case} | {driver} | {label} | {fmt2(m[key][0])} | {fmt2(k[key][0])} "
                       f"| **{ratio:.2f}** | {runs} |")
    out.append("")
    out.append("| broker | idle RSS MiB | RSS at the end MiB | peak RSS (VmHWM) MiB |")
    out.append("|---|---|---|---|")
    for name, figures in memory.items():
        out.append(f"| {name} | {figures['idle_rss_mib']:.0f} | {figures['VmRSS_mib']:.0f} "
                   f"| {figures['VmHWM_mib']:.0f} |")
    return "\n".join(out) + "\n"


def resummarize(out, cfg):
    rows = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line]
    # A run cut short has its runs but not the memory figures taken at the end.
    memory_file = out / "memory.json"
    memory = json.loads(memory_file.read_text()) if memory_file.exists() else {}
    summary = summarize(rows, memory, cfg)
    (out / "summary.md").write_text((out / "machine.txt").read_text() + "\n" + summary)
    print(summary)


def fmt2(value):
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value >= 0.01 else f"{value:.2g}"


def draw_latency_chart(rows, out):
    """Each broker's spectra at the fixed rate (with --base, the base build's too), the run with
    the median e2e p99 of each."""
    chosen = []
    for broker in ("millrace", "base", "kafka"):
        mine = sorted((r for r in rows if r["case"] == "latency-fixed-rate"
                       and r["driver"] == "millrace bench" and r["broker"] == broker),
                      key=lambda r: r["e2e_p99_ms"])
        if mine:
            chosen.append(out / mine[len(mine) // 2]["dir"] / "result.json")
    if len(chosen) < 2:
        return
    chart_dir = out / "latency"
    done = subprocess.run([str(MILLRACE), "bench", "compare", *map(str, chosen), "--output", str(chart_dir)],
                          capture_output=True, text=True)
    (chart_dir / "compare.txt").write_text(done.stdout + done.stderr)
    svg = chart_dir / "compare.svg"
    if svg.exists() and shutil.which("rsvg-convert"):
        subprocess.run(["rsvg-convert", "-b", "white", "-o", str(chart_dir / "compare.png"), str(svg)], check=False)
    log(f"latency chart in {chart_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 run, short durations, small volumes")
    parser.add_argument("--runs", type=int, default=3, help="runs per broker and case (3)")
    parser.add_argument("--duration", default="6s", help="measured time of millrace bench runs (6s)")
    parser.add_argument("--warmup", default="2s", help="unmeasured time before it (2s)")
    parser.add_argument("--records-1k", type=int, default=2_000_000,
                        help="records of 1 KiB per kafka-producer-perf-test run (2000000)")
    parser.add_argument("--records-100b", type=int, default=5_000_000,
                        help="records of 100 B per kafka-producer-perf-test run (5000000)")
    parser.add_argument("--latency-rate", type=int, default=20000, help="fixed rate, msg/s (20000)")
    parser.add_argument("--latency-partitions", type=int, default=16)
    parser.add_argument("--latency-duration", default="15s")
    parser.add_argument("--latency-acks", default="all", choices=("all", "1"),
                        help="acks of the fixed-rate latency case (all)")
    parser.add_argument("--only", default="", help="regex over 'CASE CLIENT': run only the matching cases")
    parser.add_argument("--lock", default=os.environ.get("BENCH_LOCK", ""),
                        help="flock this file around each round (one run on each broker)")
    parser.add_argument("--no-warm-up", action="store_true")
    parser.add_argument("--base", default="",
                        help="also run this millrace binary (broker and its own `millrace bench`) "
                             "as broker 'base' in every round, for an A/B against main in one run")
    parser.add_argument("--kafka-override", action="append", default=[], metavar="KEY=VALUE",
                        help="one more Kafka broker key (repeatable), e.g. "
                             "log.flush.interval.messages=1 to have Kafka fsync before it answers")
    parser.add_argument("--out", default="", help="output folder (perf/results/peers-<date>)")
    parser.add_argument("--summarize", metavar="DIR",
                        help="only write DIR/summary.md again from DIR/runs.jsonl")
    cfg = parser.parse_args()
    KAFKA_OVERRIDES.extend(cfg.kafka_override)
    if cfg.summarize:
        resummarize(pathlib.Path(cfg.summarize), cfg)
        return
    # SIGTERM (and SIGINT, which a background job ignores) stop the brokers on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if cfg.quick:
        cfg.runs, cfg.duration, cfg.warmup = 1, "2s", "1s"
        cfg.records_1k, cfg.records_100b = 200_000, 500_000
        cfg.latency_duration, cfg.latency_rate = "3s", 5000
    cfg.records = {1024: cfg.records_1k, 100: cfg.records_100b}
    out = pathlib.Path(cfg.out or REPO / "perf/results" / f"peers-{time.strftime('%Y-%m-%dT%H%MZ', time.gmtime())}")
    out.mkdir(parents=True, exist_ok=True)
    log(f"results in {out}")
    run_all(cfg, out.resolve())


if __name__ == "__main__":
    main()
