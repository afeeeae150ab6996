#!/usr/bin/env python3
"""Does group coordination load disturb produce latency?

Measures acks=all produce latency (one 100-byte record every 2 ms, confluent-kafka, latency =
delivery callback time - send time) for --seconds without group load, then again while one other
process simulates --members consumers over raw TCP (asyncio): each joins its own group
(JoinGroup v5 with the MEMBER_ID_REQUIRED handshake, SyncGroup v3), then sends a Heartbeat every
3 s and an OffsetCommit (v7, durable on the coordinator) every 5 s. Prints one JSON line with
both p50/p99s and p99_ratio = loaded / idle. The broker must run with
group.initial.rebalance.delay.ms=0 (else every join waits 3 s); a small log.segment.bytes
keeps the preallocated segments of the two topics it creates (and deletes at the end) small.

    python3 perf/group_load.py --bootstrap 127.0.0.1:19620 --members 1000 --seconds 30
"""
import argparse
import asyncio
import importlib.util
import json
import multiprocessing
import random
import struct
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

WIRE = Path(__file__).resolve().parent.parent / "tests" / "kafka_wire.py"
_spec = importlib.util.spec_from_file_location("kafka_wire", WIRE)
kw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kw)

JOIN_KEY, SYNC_KEY, HEARTBEAT_KEY, COMMIT_KEY = 11, 14, 12, 8
JOIN_VERSION, SYNC_VERSION, HEARTBEAT_VERSION, COMMIT_VERSION = 5, 3, 3, 7
MEMBER_ID_REQUIRED = 79
HEARTBEAT_INTERVAL_S = 3.0
COMMIT_INTERVAL_S = 5.0
SESSION_TIMEOUT_MS = 30_000
JOIN_CONCURRENCY = 50
PRODUCE_INTERVAL_S = 0.002
PAUSE_POLL_S = 0.1
ROUNDS = 3
RECORD_BYTES = 100
COMMIT_PARTITIONS = 8
NULL_STRING = kw.int16(-1)


def subscription(topic):
    """ConsumerProtocolSubscription v0 naming `topic`."""
    return kw.int16(0) + kw.int32(1) + kw.kafka_string(topic) + kw.int32(-1)


class Member:
    """One simulated consumer: its own connection and its own group."""

    def __init__(self, host, port, group, topic, partition):
        self.host, self.port = host, port
        self.group, self.topic, self.partition = group, topic, partition
        self.member_id, self.generation = "", -1
        self.correlation = 0
        self.offset = 0

    async def call(self, key, version, body):
        self.correlation += 1
        header = kw.request_header(key, version, self.correlation, client_id="group-load")
        self.writer.write(kw.frame(header + body))
        size = struct.unpack(">i", await self.reader.readexactly(4))[0]
        response = kw.Reader(await self.reader.readexactly(size))
        response.int32()  # correlation id
        return response

    async def join(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        for _ in range(2):
            body = kw.kafka_string(self.group) + kw.int32(SESSION_TIMEOUT_MS) + kw.int32(SESSION_TIMEOUT_MS)
            body += kw.kafka_string(self.member_id) + NULL_STRING + kw.kafka_string("consumer")
            body += kw.int32(1) + kw.kafka_string("range") + kw.kafka_bytes(subscription(self.topic))
            r = await self.call(JOIN_KEY, JOIN_VERSION, body)
            r.int32()
            error, generation = r.int16(), r.int32()
            r.string(), r.string()
            self.member_id = r.string()
            if error == 0:
                self.generation = generation
                break
            if error != MEMBER_ID_REQUIRED:
                raise RuntimeError(f"JoinGroup {self.group}: error {error}")
        body = kw.kafka_string(self.group) + kw.int32(self.generation) + kw.kafka_string(self.member_id)
        body += NULL_STRING + kw.int32(1) + kw.kafka_string(self.member_id) + kw.kafka_bytes(b"")
        r = await self.call(SYNC_KEY, SYNC_VERSION, body)
        r.int32()
        if (error := r.int16()) != 0:
            raise RuntimeError(f"SyncGroup {self.group}: error {error}")

    async def heartbeat(self):
        body = kw.kafka_string(self.group) + kw.int32(self.generation) + kw.kafka_string(self.member_id)
        r = await self.call(HEARTBEAT_KEY, HEARTBEAT_VERSION, body + NULL_STRING)
        r.int32()
        return r.int16()

    async def commit(self):
        self.offset += 1
        body = kw.kafka_string(self.group) + kw.int32(self.generation) + kw.kafka_string(self.member_id)
        body += NULL_STRING + kw.int32(1) + kw.kafka_string(self.topic) + kw.int32(1)
        body += kw.int32(self.partition) + kw.int64(self.offset) + kw.int32(-1) + NULL_STRING
        r = await self.call(COMMIT_KEY, COMMIT_VERSION, body)
        r.int32()
        r.int32()
        r.string()
        r.int32()
        r.int32()
        return r.int16()

    async def run(self, stop, paused, counts):
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time() + random.uniform(0, HEARTBEAT_INTERVAL_S)
        next_commit = loop.time() + random.uniform(0, COMMIT_INTERVAL_S)
        while not stop.is_set():
            if paused.is_set():
                # Idle phase: send nothing; resume on a fresh spread-out schedule.
                await asyncio.sleep(PAUSE_POLL_S)
                next_heartbeat = loop.time() + random.uniform(0, HEARTBEAT_INTERVAL_S)
                next_commit = loop.time() + random.uniform(0, COMMIT_INTERVAL_S)
                continue
            await asyncio.sleep(max(0.0, min(next_heartbeat, next_commit) - loop.time()))
            if loop.time() >= next_heartbeat:
                counts["heartbeat_errors"] += await self.heartbeat() != 0
                counts["heartbeats"] += 1
                next_heartbeat += HEARTBEAT_INTERVAL_S
            if loop.time() >= next_commit:
                counts["commit_errors"] += await self.commit() != 0
                counts["commits"] += 1
                next_commit += COMMIT_INTERVAL_S
        self.writer.close()


async def simulate(bootstrap, members, topic, loaded_seconds, joined, paused, stop_event, results):
    host, port = bootstrap.rsplit(":", 1)
    prefix = f"group-load-{uuid.uuid4().hex[:6]}"
    sims = [Member(host, int(port), f"{prefix}-{i}", topic, i % COMMIT_PARTITIONS) for i in range(members)]
    gate = asyncio.Semaphore(JOIN_CONCURRENCY)

    async def join(member):
        async with gate:
            await member.join()

    started = time.monotonic()
    await asyncio.gather(*(join(m) for m in sims))
    join_s = time.monotonic() - started
    joined.set()
    counts = {"heartbeats": 0, "heartbeat_errors": 0, "commits": 0, "commit_errors": 0}
    stop = asyncio.Event()
    tasks = [asyncio.create_task(m.run(stop, paused, counts)) for m in sims]
    load_started = time.monotonic()
    while not stop_event.is_set():
        await asyncio.sleep(0.2)
    load_s = time.monotonic() - load_started
    stop.set()
    await asyncio.gather(*tasks)
    active_s = loaded_seconds
    rates = {
        "heartbeats_per_loaded_s": round(counts["heartbeats"] / active_s, 1),
        "commits_per_loaded_s": round(counts["commits"] / active_s, 1),
        "target_heartbeats_per_s": round(members / HEARTBEAT_INTERVAL_S, 1),
        "target_commits_per_s": round(members / COMMIT_INTERVAL_S, 1),
    }
    results.put({"join_all_s": round(join_s, 2), "wall_s": round(load_s, 1), **counts, **rates})


def load_process(bootstrap, members, topic, loaded_seconds, joined, paused, stop_event, results):
    asyncio.run(simulate(bootstrap, members, topic, loaded_seconds, joined, paused, stop_event, results))


def measure_produce(producer, topic, seconds):
    """Latencies (ms) of one record every 2 ms for `seconds`, and the error count."""
    latencies_ms = []
    errors = []

    def delivered(sent_at):
        def report(err, _msg):
            if err is not None:
                errors.append(str(err))
            else:
                latencies_ms.append((time.perf_counter() - sent_at) * 1000.0)
        return report

    payload = b"x" * RECORD_BYTES
    end = time.perf_counter() + seconds
    next_send = time.perf_counter()
    while next_send < end:
        producer.produce(topic, payload, on_delivery=delivered(time.perf_counter()))
        next_send += PRODUCE_INTERVAL_S
        # poll() returns early when it serves a delivery report: wait out the slot.
        while (wait_s := next_send - time.perf_counter()) > 0:
            producer.poll(wait_s)
    producer.flush(30)
    return latencies_ms, len(errors)


def summary(latencies_ms, errors):
    ordered = sorted(latencies_ms)

    def pct(p):
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 3)

    return {"records": len(ordered), "errors": errors, "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def create_topics(bootstrap, topics):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics])
    for future in futures.values():
        future.result(timeout=30)
    time.sleep(1.0)  # let metadata settle everywhere before measuring


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0, help="per condition, over all rounds")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="idle/loaded alternations")
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:6]
    produce_topic, commit_topic = f"group-load-produce-{suffix}", f"group-load-commits-{suffix}"
    create_topics(args.bootstrap, [(produce_topic, 1), (commit_topic, COMMIT_PARTITIONS)])
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "linger.ms": 0})
    measure_produce(producer, produce_topic, 2.0)  # warm-up: connections, metadata

    ctx = multiprocessing.get_context("spawn")
    joined, paused, stop_event, results = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
    paused.set()
    load = ctx.Process(
        target=load_process,
        args=(args.bootstrap, args.members, commit_topic, args.seconds, joined, paused, stop_event, results),
    )
    load.start()
    if not joined.wait(120):
        load.terminate()
        raise SystemExit("group members did not all join within 120 s")
    segment_s = args.seconds / args.rounds
    idle, loaded = ([], 0), ([], 0)
    # Alternating idle and loaded segments, so drift in a shared machine's disk and CPU
    # weighs on both conditions alike.
    for _ in range(args.rounds):
        paused.set()
        time.sleep(PAUSE_POLL_S * 2)
        lat, err = measure_produce(producer, produce_topic, segment_s)
        idle = (idle[0] + lat, idle[1] + err)
        paused.clear()
        lat, err = measure_produce(producer, produce_topic, segment_s)
        loaded = (loaded[0] + lat, loaded[1] + err)
    stop_event.set()
    group_load = results.get(timeout=60)
    load.join(30)
    # Segments are preallocated: leave no topics behind to fill the disk.
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    for future in admin.delete_topics([produce_topic, commit_topic]).values():
        future.result(timeout=30)
    idle, loaded = summary(*idle), summary(*loaded)
    print(json.dumps({
        "members": args.members,
        "seconds_per_condition": args.seconds,
        "rounds": args.rounds,
        "idle": idle,
        "with_group_load": loaded,
        "group_load": group_load,
        "p99_ratio": round(loaded["p99_ms"] / idle["p99_ms"], 3),
    }))


if __name__ == "__main__":
    main()
