"""kcat from Debian (librdkafka 2.0.2), the old-client case: metadata, then 100,000 keyed
messages through a 6-partition topic, produced with `kcat -P` and read back with `kcat -C -e`
complete and in per-partition order."""

import json
import shutil
import subprocess
from collections import Counter

import pytest

from clients import create_topic, unique_topic

MESSAGE_COUNT = 100_000
PARTITIONS = 6
KCAT_TIMEOUT_S = 180

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (tests/run.sh installs it)")


def kcat(*args, stdin=None):
    result = subprocess.run(
        ["kcat", *args], input=stdin, capture_output=True, timeout=KCAT_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"kcat {' '.join(args)} exited {result.returncode}: {result.stderr.decode()[-3000:]}"
    return result.stdout


def test_kcat_metadata_lists_broker_and_topic(broker):
    b = broker()
    topic = unique_topic("kcat-meta")
    create_topic(b.bootstrap, topic, PARTITIONS)

    text = kcat("-b", b.bootstrap, "-L").decode()
    assert f" at {b.bootstrap}" in text, f"broker not listed:\n{text}"
    assert f'topic "{topic}" with {PARTITIONS} partitions' in text, f"topic not listed:\n{text}"

    metadata = json.loads(kcat("-b", b.bootstrap, "-L", "-J"))

    brokers = {f"{entry['name']}" for entry in metadata["brokers"]}
    assert brokers == {b.bootstrap}, f"advertised brokers {metadata['brokers']}"
    broker_id = metadata["brokers"][0]["id"]
    topics = {entry["topic"]: entry for entry in metadata["topics"]}
    assert topic in topics, f"topics listed: {sorted(topics)}"
    listed = topics[topic]
    assert "error" not in listed, listed
    assert sorted(p["partition"] for p in listed["partitions"]) == list(range(PARTITIONS))
    for partition in listed["partitions"]:
        assert partition["leader"] == broker_id, partition
        assert "error" not in partition, partition


def test_kcat_produces_and_consumes_100k_messages_in_partition_order(broker):
    b = broker()
    topic = unique_topic("kcat-100k")
    create_topic(b.bootstrap, topic, PARTITIONS)

    lines = "".join(f"k{i:06d}:v{i:06d}-{'x' * (i % 50)}\n" for i in range(MESSAGE_COUNT))
    kcat("-b", b.bootstrap, "-P", "-t", topic, "-K", ":", "-X", "linger.ms=20", stdin=lines.encode())

    out = kcat(
        "-b", b.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
        "-f", "%p %o %k %s\n",
    ).decode()

    per_partition = {p: [] for p in range(PARTITIONS)}
    for line in out.splitlines():
        partition, offset, key, value = line.split(" ", 3)
        per_partition[int(partition)].append((int(offset), key, value))

    total = sum(len(records) for records in per_partition.values())
    assert total == MESSAGE_COUNT, f"consumed {total} of {MESSAGE_COUNT}"
    seen = Counter()
    for partition, records in per_partition.items():
        assert records, f"partition {partition} got no messages: keys should spread over all {PARTITIONS}"
        offsets = [offset for offset, _, _ in records]
        assert offsets == list(range(len(records))), f"partition {partition}: offsets not 0..n-1 in order"
        sequence = []
        for _, key, value in records:
            number = int(key[1:])
            assert value == f"v{number:06d}-{'x' * (number % 50)}", f"partition {partition}: {key} -> {value!r}"
            sequence.append(number)
            seen[number] += 1
        assert sequence == sorted(sequence), f"partition {partition}: messages out of production order"
    assert len(seen) == MESSAGE_COUNT and max(seen.values()) == 1, "messages missing or duplicated"
