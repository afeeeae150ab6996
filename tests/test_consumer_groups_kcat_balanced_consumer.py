"""kcat from Debian (librdkafka 2.0.2) joins a group with `kcat -G group topic` and consumes
everything; its commits are visible to a later member of the same group."""

import shutil
import subprocess

import pytest
from confluent_kafka import Consumer, TopicPartition

from clients import create_topic, new_producer, produce_all, quiet_config, unique_topic

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (tests/run.sh installs it)")

PARTITIONS = 3
MESSAGES = 3000
KCAT_TIMEOUT_S = 60


def group_log(stderr):
    """kcat's group-protocol debug lines (joins, syncs, commits), for a failure message."""
    wanted = ("JOIN", "SYNC", "COMMIT", "REBALANCE", "ASSIGN", "HEARTBEAT", "LEAVE", "FAIL", "ERR")
    lines = [line for line in stderr.decode(errors="replace").splitlines() if any(w in line for w in wanted)]
    return "\n".join(lines[-80:])


def test_kcat_group_consumer_reads_all_and_commits(broker):
    bootstrap, _, _ = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("kcat-group")
    group = unique_topic("kcat-g")
    create_topic(bootstrap, topic, PARTITIONS)
    # Explicit partitions: librdkafka's sticky partitioner may put every keyless record on one
    # partition, and kcat commits nothing for a partition it read nothing from.
    producer = new_producer(bootstrap)
    for partition in range(PARTITIONS):
        share = range(partition, MESSAGES, PARTITIONS)
        produced = produce_all(producer, topic, ((None, b"m%d" % i) for i in share), partition=partition)
        assert not produced.errors

    result = subprocess.run(
        ["kcat", "-b", bootstrap, "-X", "auto.offset.reset=earliest", "-X", "enable.auto.commit=true",
         "-X", "auto.commit.interval.ms=100", "-X", "debug=cgrp", "-c", str(MESSAGES), "-G", group, topic],
        capture_output=True, timeout=KCAT_TIMEOUT_S, check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    lines = result.stdout.decode().split("\n")
    values = {line for line in lines if line}
    assert values == {"m%d" % i for i in range(MESSAGES)}

    config = quiet_config(bootstrap)
    config.update({"group.id": group})
    checker = Consumer(config)
    try:
        committed = checker.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        offsets = [tp.offset for tp in committed]
        # kcat read everything, so its final commit is each partition's log end.
        assert offsets == [len(range(p, MESSAGES, PARTITIONS)) for p in range(PARTITIONS)], (
            offsets, group_log(result.stderr))
    finally:
        checker.close()
