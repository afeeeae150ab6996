"""Issues 12 and 13: the Jepsen-style run (tests/jepsen/run.py) on brokers of two shards each.

Every other cluster test gives each broker `num.shards=1` (three brokers share the machine's two
cores). But a broker's partitions and its replication are per shard: each shard follows the
partitions it owns with its own fetch session per leader broker, and that session's connection
lands on whichever shard of the leader the kernel picks (SO_REUSEPORT), which forwards the
partitions owned by its other shard over the shard mesh; client produces and fetches cross the
mesh the same way, and group coordinators sit on the shard of their offsets partition. Here
each broker runs two shards, so the 3-partition RF=3 topic (placed round-robin: two partitions
on one shard, one on the other) is served and replicated through both, while the nemesis
kills, pauses, partitions and restarts brokers. The checker demands what the one-shard run
does: every acknowledged record read back at its offset, no offset holding two records, no
duplicates, no poll skips, and every replica byte-identical up to the high watermark.

3 fault cycles by default (the one-shard run does 6); MILLRACE_TEST_JEPSEN_EXTENDED=1 or
MILLRACE_JEPSEN_CYCLES=N run as many as the one-shard run."""

import os

import pytest

from jepsen import run, workload
from jepsen.proxy import ProxyNet

# Seed 2 draws a leader kill, a follower kill and a partition of a leader in its first 3 cycles.
SEED = int(os.environ.get("MILLRACE_JEPSEN_SEED", "2"))
SHARDS_PER_BROKER = 2
DEFAULT_CYCLES = 3
EXTENDED = os.environ.get("MILLRACE_TEST_JEPSEN_EXTENDED") == "1" or "MILLRACE_JEPSEN_CYCLES" in os.environ
CYCLES = run.cycles() if EXTENDED else DEFAULT_CYCLES
# Per cycle: fault + recovery + a restart or an election; plus start-up, settle and final read.
TIMEOUT_S = 180 + CYCLES * 25


@pytest.mark.timeout(TIMEOUT_S)
def test_rf3_under_nemesis_with_two_shards_per_broker(millrace_cluster, tmp_path):
    proxies = ProxyNet()
    try:
        extra = (*run.BROKER_EXTRA, f"num.shards={SHARDS_PER_BROKER}")
        cluster = millrace_cluster(brokers=3, extra=extra, proxies=proxies)
        workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
        for node in cluster.nodes.values():
            started = node.stderr_tail(limit=200_000)
            # The start line (shards run unpinned where fewer CPUs are allowed).
            assert f"| {SHARDS_PER_BROKER} shard(s) |" in started, started[-2000:]
        history_path = tmp_path / "history.jsonl"
        result = run.jepsen_run(cluster, proxies, history_path, SEED, CYCLES)
    finally:
        proxies.close()
    print(result.summary())
    assert result.stats["acked"] > 0, f"nothing was acknowledged: {result.summary()}"
    result.assert_valid()
