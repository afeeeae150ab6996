"""The nemesis: faults injected into a running `millrace_cluster` in cycles, one fault at a time
(a minority of the brokers, so the cluster can stay available), each healed before the next.

Faults (names as recorded in the history):
- kill-leader / kill-follower: kill -9 of the broker, restarted (same file, same data dir)
  when the fault heals;
- pause-leader / pause-follower: SIGSTOP, SIGCONT when it heals (a zombie that wakes up);
- partition-leader: the leader cut from every other broker (clients still reach everyone);
- one-way-leader-out: the leader's answers to followers held (its followers' fetches still reach
  it); one-way-leader-in: the other way round;
- isolate-follower: a follower cut from every other broker;
- slow-links: every inter-broker link delayed.
Faults on links need the cluster's ProxyNet (millrace_cluster(proxies=...)); without one, only
kills and pauses are drawn.
"""

import os
import random
import signal
import time

from jepsen import history as h
from jepsen.proxy import ProxyNet

PROCESS_FAULTS = ("kill-leader", "kill-follower", "pause-leader", "pause-follower")
LINK_FAULTS = ("partition-leader", "one-way-leader-out", "one-way-leader-in", "isolate-follower",
               "slow-links")
# Delay of every inter-broker flow under slow-links.
SLOW_LINK_DELAY_S = 0.2
PAUSE_TIMEOUT_S = 5.0


def _threads_stopped(pid):
    """True when every thread of `pid` is in the stopped state (a signal reaches each thread
    when it next enters the kernel, not at once)."""
    tasks = f"/proc/{pid}/task"
    try:
        for task in os.listdir(tasks):
            with open(f"{tasks}/{task}/stat") as stat:
                # The state follows the command name, which is in parentheses.
                if stat.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
    except FileNotFoundError:
        return True
    return True


def pause(node):
    """SIGSTOP: the process keeps its sockets and state but does nothing (a GC pause, a VM
    stall) until resume(). Returns once every thread has stopped."""
    os.kill(node.process.pid, signal.SIGSTOP)
    deadline = time.monotonic() + PAUSE_TIMEOUT_S
    while not _threads_stopped(node.process.pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"broker {node.node_id} did not stop within {PAUSE_TIMEOUT_S}s")
        time.sleep(0.01)


def resume(node):
    os.kill(node.process.pid, signal.SIGCONT)


class Nemesis:
    """Draws and applies faults on `cluster` for the partitions of `topic`."""

    def __init__(self, cluster, history, topic, leader_of, seed, proxies: ProxyNet = None):
        """`leader_of(topic)` returns {partition: leader id or -1} as a client sees it now."""
        self.cluster = cluster
        self.history = history
        self.topic = topic
        self.leader_of = leader_of
        self.rng = random.Random(seed)
        self.proxies = proxies
        self.faults = PROCESS_FAULTS + (LINK_FAULTS if proxies is not None else ())
        self.killed = set()
        self.paused = set()
        self.counts = {}

    def brokers(self):
        return sorted(self.cluster.nodes)

    def _target(self, role):
        leaders = [b for b in self.leader_of(self.topic).values() if b in self.cluster.nodes]
        leader = self.rng.choice(leaders) if leaders else self.rng.choice(self.brokers())
        if role == "leader":
            return leader
        return self.rng.choice([b for b in self.brokers() if b != leader])

    def inject(self, fault=None):
        """Applies one fault (drawn when not given); returns (fault, target)."""
        fault = fault or self.rng.choice(self.faults)
        role = "follower" if fault.endswith("follower") else "leader"
        target = self._target(role)
        others = [b for b in self.brokers() if b != target]
        if fault.startswith("kill"):
            self.cluster.kill(target)
            self.killed.add(target)
        elif fault.startswith("pause"):
            pause(self.cluster.node(target))
            self.paused.add(target)
        elif fault in ("partition-leader", "isolate-follower"):
            self.proxies.isolate(target, self.brokers())
        elif fault == "one-way-leader-out":
            for other in others:
                self.proxies.one_way(target, other)
        elif fault == "one-way-leader-in":
            for other in others:
                self.proxies.one_way(other, target)
        elif fault == "slow-links":
            for a in self.brokers():
                for b in self.brokers():
                    if a != b:
                        self.proxies.set_flow(a, b, delay_s=SLOW_LINK_DELAY_S)
        else:
            raise ValueError(f"unknown fault {fault}")
        self.counts[fault] = self.counts.get(fault, 0) + 1
        self.history.record(h.NEMESIS, "nemesis", fault=fault, target=target, phase="start")
        return fault, target

    def heal(self):
        """Ends every fault: links healed, paused brokers resumed, killed ones restarted."""
        if self.proxies is not None:
            self.proxies.heal()
        for broker in sorted(self.paused):
            resume(self.cluster.node(broker))
        self.paused.clear()
        for broker in sorted(self.killed):
            self.cluster.restart(broker)
        self.killed.clear()
        self.history.record(h.NEMESIS, "nemesis", fault="heal", phase="end")

    def run(self, cycles, fault_s, recover_s, should_stop=lambda: False):
        """`cycles` rounds of: a fault for fault_s, heal, recover_s of calm."""
        for _ in range(cycles):
            if should_stop():
                break
            self.inject()
            time.sleep(fault_s)
            self.heal()
            time.sleep(recover_s)
