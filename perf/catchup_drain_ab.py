#!/usr/bin/env python3
"""Catch-up drain with `millrace bench --backlog` (perf/peers/compare.py's catch-up case, without
Kafka), A/B over builds in one run, with the CPU of both sides over the drain only.

    python3 perf/catchup_drain_ab.py [--rounds N] [--duration 6s] [--lock FILE] NAME=BROKER_BIN[,CLIENT_BIN] ...

Each round runs every configuration once (the order rotates by one each round), each on a fresh
broker: the client produces 1 KiB records with acks=all to one partition for --duration, then one
consumer reads them all (the drain). From /proc samples every 50 ms: the broker's CPU seconds
per GB drained, split by thread name (millrace-shard: the reactors, millrace-client: the send
helpers), and the client's. A benchmark, not a test; prints one JSON line per run and a table of
medians at the end. Every run is a cold read: appends are O_DIRECT, so the page cache is empty.
"""
import argparse, collections, contextlib, fcntl, json, os, shutil, socket, statistics
import subprocess, tempfile, threading, time

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
SAMPLE_INTERVAL_S = 0.05
BYTES_PER_GB = 1e9


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_by_thread(pid):
    """CPU seconds of PID: 'total' (live and exited threads) and per thread name."""
    out = collections.Counter()
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
                name = stat[stat.index("(") + 1:stat.rindex(")")].rstrip("0123456789-_")
                fields = stat[stat.rindex(")") + 2:].split()
                out[name] += (int(fields[11]) + int(fields[12])) / TICKS_PER_S
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            out["total"] = (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    return out


def one_drain(broker_bin, client_bin, duration):
    work = tempfile.mkdtemp(prefix="catchup-drain.")
    port = free_port()
    broker = subprocess.Popen(
        [broker_bin, "serve", "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
         "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
         "--override", f"log.dirs={work}/data", "--override", "log.level=warn",
         "--override", "http.listener="],
        stdout=subprocess.DEVNULL, stderr=open(f"{work}/broker.stderr", "w"))
    try:
        for _ in range(400):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        client = subprocess.Popen(
            [client_bin, "bench", "--bootstrap", f"127.0.0.1:{port}", "--name", "drain",
             "--topic-prefix", "drain", "--delete-topics", "true", "--output", f"{work}/out",
             "--message-size", "1024", "--acks", "all", "--partitions-per-topic", "1",
             "--consumers-per-topic", "1", "--backlog", "true", "--duration", duration],
            stdout=subprocess.DEVNULL, stderr=open(f"{work}/client.stderr", "w"))
        samples, halt = [], threading.Event()

        def sample():
            while not halt.is_set():
                samples.append((time.monotonic(), cpu_by_thread(broker.pid), cpu_by_thread(client.pid)))
                time.sleep(SAMPLE_INTERVAL_S)

        sampler = threading.Thread(target=sample)
        sampler.start()
        status = client.wait()
        ended = time.monotonic()
        halt.set()
        sampler.join()
        if status != 0:
            raise RuntimeError(f"bench exited {status}: {open(f'{work}/client.stderr').read()[-2000:]}")
        with open(f"{work}/out/result.json") as f:
            result = json.load(f)
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(work, ignore_errors=True)
    drain_s = result["drain_s"]
    gb = result["consume"]["bytes"] / BYTES_PER_GB
    first = next(s for s in samples if s[0] >= ended - drain_s - 0.1)
    last_broker = samples[-1][1]
    last_client = [s for s in samples if s[2].get("total")][-1][2]
    broker_cpu = {k: (v - first[1].get(k, 0)) / gb for k, v in last_broker.items()}
    return {
        "mb_per_s": result["consume"]["bytes"] / 1e6 / drain_s,
        "drain_s": drain_s,
        "gb": gb,
        "produce_mb_per_s": result["produce"]["mb_per_s"],
        "broker_cpu_s_per_gb": broker_cpu.pop("total"),
        "broker_threads_cpu_s_per_gb": {k: round(v, 3) for k, v in broker_cpu.items() if v > 0},
        "client_cpu_s_per_gb": (last_client["total"] - first[2].get("total", 0)) / gb,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", default="6s", help="produce time per run (compare.py: 6s)")
    parser.add_argument("--lock", default=os.environ.get("BENCH_LOCK", ""))
    parser.add_argument("configs", nargs="+", metavar="NAME=BROKER_BIN[,CLIENT_BIN]")
    args = parser.parse_args()
    configs = []
    for spec in args.configs:
        name, bins = spec.split("=", 1)
        broker_bin, _, client_bin = bins.partition(",")
        configs.append((name, broker_bin, client_bin or broker_bin))
    rows = []
    for round_index in range(args.rounds):
        shift = round_index % len(configs)
        for name, broker_bin, client_bin in configs[shift:] + configs[:shift]:
            with open(args.lock or os.devnull, "a") as lock:
                if args.lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                load = open("/proc/loadavg").read().split()[0]
                row = {"config": name, "round": round_index, "load": float(load),
                       **one_drain(broker_bin, client_bin, args.duration)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    keys = ("mb_per_s", "broker_cpu_s_per_gb", "client_cpu_s_per_gb", "load")
    print("\n| config | drain MB/s (runs) | median | broker CPU s/GB | client CPU s/GB | load |")
    print("|---|---|---|---|---|---|")
    for name, _, _ in configs:
        mine = [r for r in rows if r["config"] == name]
        med = {k: statistics.median(r[k] for r in mine) for k in keys}
        runs = ", ".join(f"{r['mb_per_s']:.0f}" for r in mine)
        print(f"| {name} | {runs} | {med['mb_per_s']:.0f} | {med['broker_cpu_s_per_gb']:.2f} "
              f"| {med['client_cpu_s_per_gb']:.2f} | {min(r['load'] for r in mine):.1f}-{max(r['load'] for r in mine):.1f} |")


if __name__ == "__main__":
    main()
