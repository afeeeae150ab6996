"""The Jepsen-style run of issue 13 (tests/jepsen/run.py): 3 brokers behind proxies, an RF=3
topic with min.insync.replicas=2, three idempotent acks=all confluent-kafka producers and one
Java (kafka-clients) producer, two confluent-kafka consumers and one Java consumer, while the
nemesis kills, pauses, partitions (both
ways and one way), slows and restarts brokers. The checker then demands: every acknowledged
record read back at its offset, no offset holding two records, no duplicates, no poll skips,
and every replica's log byte-identical up to the high watermark.

6 fault cycles by default (the default suite's time bound; test_jepsen_single_faults_rf3.py
runs each single fault deterministically); MILLRACE_TEST_JEPSEN_EXTENDED=1 runs 100
(MILLRACE_JEPSEN_CYCLES=N any number). The history is kept in the test's tmp dir (history.jsonl) when it fails.
"""

import os

import pytest

from jepsen import run, workload
from jepsen.java import JavaConsumer, JavaProducer
from jepsen.proxy import ProxyNet

SEED = int(os.environ.get("MILLRACE_JEPSEN_SEED", "13"))
DEFAULT_CYCLES = 6
CYCLES = run.cycles(default=DEFAULT_CYCLES)
JAVA_RATE_PER_S = 20
# Per cycle: fault + recovery + a restart or an election; plus start-up, settle and final read.
TIMEOUT_S = 180 + CYCLES * 25


@pytest.mark.timeout(TIMEOUT_S)
def test_rf3_acks_all_idempotent_producers_under_nemesis(millrace_cluster, tmp_path):
    proxies = ProxyNet()
    try:
        cluster = millrace_cluster(brokers=3, extra=run.BROKER_EXTRA, proxies=proxies)
        workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
        history_path = tmp_path / "history.jsonl"
        java = JavaProducer("java0", cluster.bootstrap, "jepsen", run.PARTITIONS, history_path,
                            JAVA_RATE_PER_S, tmp_path)
        java_consumer = JavaConsumer("javac0", cluster.bootstrap, "jepsen", run.PARTITIONS,
                                     history_path, tmp_path)
        result = run.jepsen_run(cluster, proxies, history_path, SEED, CYCLES, [java],
                                [java_consumer])
    finally:
        proxies.close()
    print(result.summary())
    assert result.stats["acked"] > 0, f"nothing was acknowledged: {result.summary()}"
    assert any(name.startswith("java") for name in _acked_processes(history_path)), \
        "the Java producer had nothing acknowledged"
    assert "javac0" in _polling_processes(history_path), "the Java consumer received nothing"
    result.assert_valid()


def _acked_processes(history_path):
    from jepsen import history as h

    return {e["process"] for e in h.load(history_path) if e["type"] == h.SEND and e["status"] == h.OK}


def _polling_processes(history_path):
    from jepsen import history as h

    return {e["process"] for e in h.load(history_path) if e["type"] == h.POLL}
