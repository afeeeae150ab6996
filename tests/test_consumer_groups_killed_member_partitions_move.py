"""Rebalance on failure: one of 3 consumers (each a subprocess) is SIGKILLed, so it never sends
LeaveGroup. Within session.timeout.ms its partitions move to the two others, and because every
consumer commits after processing, every message is processed at least once: none is lost."""

import os
import signal
import subprocess
import sys
import time

from clients import create_topic, new_producer, produce_all, unique_topic

PARTITIONS = 6
CONSUMERS = 3
MESSAGES = 30_000
SESSION_TIMEOUT_MS = 6000
MOVE_DEADLINE_S = SESSION_TIMEOUT_MS / 1000 + 6.0
DEADLINE_S = 120.0

# The child: consume, append processed keys to its file, then commit (at-least-once).
CHILD = r"""
import sys, time
from confluent_kafka import Consumer
bootstrap, group, topic, out_path, status_path, session_ms = sys.argv[1:7]
status = open(status_path, "a", buffering=1)
def on_assign(consumer, partitions):
    status.write("ASSIGN " + ",".join(str(p.partition) for p in partitions) + "\n")
consumer = Consumer({"bootstrap.servers": bootstrap, "broker.address.family": "v4", "group.id": group,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "session.timeout.ms": int(session_ms), "heartbeat.interval.ms": 500})
consumer.subscribe([topic], on_assign=on_assign)
with open(out_path, "a") as out:
    while True:
        batch = [m for m in consumer.consume(num_messages=200, timeout=0.2) if m.error() is None]
        if not batch:
            continue
        out.write("".join(m.key().decode() + "\n" for m in batch))
        out.flush()
        time.sleep(0.05)  # simulated processing work, so the kill lands mid-stream
        try:
            consumer.commit(asynchronous=False)
        except Exception as err:  # a commit refused during a rebalance is retried by the next one
            status.write("COMMIT-FAILED %s\n" % err)
"""


def last_assignment(status_path):
    try:
        lines = [l for l in status_path.read_text().splitlines() if l.startswith("ASSIGN ")]
    except FileNotFoundError:
        return None
    if not lines:
        return None
    text = lines[-1][len("ASSIGN "):]
    return {int(p) for p in text.split(",") if p}


def processed_keys(paths):
    keys = set()
    for path in paths:
        if path.exists():
            keys.update(line for line in path.read_text().splitlines() if line)
    return keys


def test_killed_consumer_partitions_move_and_nothing_is_lost(broker, tmp_path):
    bootstrap, _, _ = broker(**{"group.initial.rebalance.delay.ms": 0, "num.shards": 2})
    topic = unique_topic("failover")
    group = unique_topic("failover-g")
    create_topic(bootstrap, topic, PARTITIONS)
    produced = produce_all(new_producer(bootstrap), topic, ((str(i).encode(), b"v") for i in range(MESSAGES)))
    assert not produced.errors

    outs = [tmp_path / f"processed{i}.txt" for i in range(CONSUMERS)]
    statuses = [tmp_path / f"status{i}.txt" for i in range(CONSUMERS)]
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, bootstrap, group, topic, str(outs[i]), str(statuses[i]),
                          str(SESSION_TIMEOUT_MS)])
        for i in range(CONSUMERS)
    ]
    try:
        deadline = time.monotonic() + DEADLINE_S
        while [len(last_assignment(s) or ()) for s in statuses] != [2, 2, 2]:
            assert time.monotonic() < deadline, [last_assignment(s) for s in statuses]
            time.sleep(0.05)
        victim_partitions = last_assignment(statuses[0])
        while not processed_keys([outs[0]]):
            assert time.monotonic() < deadline, "victim processed nothing"
            time.sleep(0.05)

        children[0].send_signal(signal.SIGKILL)
        children[0].wait(timeout=10)
        killed_at = time.monotonic()
        while True:
            survivors = [last_assignment(s) or set() for s in statuses[1:]]
            if sorted(len(a) for a in survivors) == [3, 3] and set().union(*survivors) == set(range(PARTITIONS)):
                break
            assert time.monotonic() - killed_at < MOVE_DEADLINE_S, f"survivor assignments {survivors}"
            time.sleep(0.05)
        assert victim_partitions <= set().union(*survivors)

        expected = {str(i) for i in range(MESSAGES)}
        while True:
            missing = expected - processed_keys(outs)
            if not missing:
                break
            assert time.monotonic() < deadline, f"{len(missing)} messages never processed"
            time.sleep(0.1)
    finally:
        for child in children:
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
