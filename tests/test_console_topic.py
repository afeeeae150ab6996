"""`millrace topic` against a running broker: create (with configs, --if-not-exists), list,
describe (partitions, leader, replicas, ISR, log start/end offsets, size, configs), alter-config
on a missing topic (exit 1; altering is tested in test_admin_alter_configs_and_log_dirs.py),
delete (--if-exists),
with the documented exit codes: 0 ok, 1 broker/runtime failure (missing or existing topic,
unreachable broker), 2 bad usage. A real client (confluent-kafka) confirms what the tool did."""

import re
import subprocess

from confluent_kafka.admin import AdminClient

from clients import new_producer, produce_all, quiet_config, unique_topic, wait_for_partitions
from conftest import BROKER_BINARY, free_port

CLI_TIMEOUT_S = 60.0
PARTITIONS = 3


def cli(bootstrap, *args, stdin=None):
    """Runs `millrace ARGS --bootstrap BOOTSTRAP`; returns the CompletedProcess."""
    command = [str(BROKER_BINARY), *args, "--bootstrap", bootstrap]
    return subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, input=stdin)


def describe_fields(line):
    """{'Topic': 't', 'Partition': '0', ...} from one tab-separated describe line."""
    fields = {}
    for cell in line.strip().split("\t"):
        key, _, value = cell.partition(": ")
        fields[key] = value
    return fields


def test_create_list_describe_delete_round_trip(broker):
    b = broker()
    topic = unique_topic("console-topic")

    created = cli(b.bootstrap, "topic", "create", topic, "--partitions", str(PARTITIONS),
                  "--replication-factor", "1", "--config", "retention.ms=123456789")
    assert created.returncode == 0, created.stderr
    assert f"Created topic {topic}" in created.stdout
    admin = AdminClient(quiet_config(b.bootstrap))
    wait_for_partitions(admin, topic, PARTITIONS)

    again = cli(b.bootstrap, "topic", "create", topic)
    assert again.returncode == 1
    assert "TopicAlreadyExists" in again.stderr and topic in again.stderr
    tolerated = cli(b.bootstrap, "topic", "create", topic, "--if-not-exists")
    assert tolerated.returncode == 0, tolerated.stderr

    listed = cli(b.bootstrap, "topic", "list")
    assert listed.returncode == 0, listed.stderr
    assert topic in listed.stdout.splitlines()

    # Five records to partition 1, two to partition 2, written by a real client.
    producer = new_producer(b.bootstrap)
    produce_all(producer, topic, [(None, f"p1-{i}".encode()) for i in range(5)], partition=1)
    produce_all(producer, topic, [(None, b"p2-a"), (None, b"p2-b")], partition=2)

    described = cli(b.bootstrap, "topic", "describe", topic)
    assert described.returncode == 0, described.stderr
    lines = described.stdout.splitlines()
    header = describe_fields(lines[0])
    assert header["Topic"] == topic
    assert header["PartitionCount"] == str(PARTITIONS)
    assert header["ReplicationFactor"] == "1"
    assert "retention.ms=123456789" in header["Configs"].split(",")
    rows = {int(f["Partition"]): f for f in map(describe_fields, lines[1:])}
    assert sorted(rows) == list(range(PARTITIONS)), described.stdout
    for partition, row in rows.items():
        assert row["Topic"] == topic
        assert row["Leader"] == "0" and row["Replicas"] == "0" and row["Isr"] == "0", row
        assert row["LogStartOffset"] == "0", row
        # DescribeLogDirs: every partition has a size; the empty one is 0.
        assert int(row["Size"]) >= (0 if partition == 0 else 1), row
    assert [rows[p]["LogEndOffset"] for p in range(PARTITIONS)] == ["0", "5", "2"]

    deleted = cli(b.bootstrap, "topic", "delete", topic)
    assert deleted.returncode == 0, deleted.stderr
    assert topic not in cli(b.bootstrap, "topic", "list").stdout.splitlines()
    assert topic not in admin.list_topics(timeout=10).topics

    gone = cli(b.bootstrap, "topic", "delete", topic)
    assert gone.returncode == 1
    assert "does not exist" in gone.stderr and topic in gone.stderr
    tolerated = cli(b.bootstrap, "topic", "delete", topic, "--if-exists")
    assert tolerated.returncode == 0, tolerated.stderr


def test_describe_without_names_shows_every_topic_and_missing_topic_exits_1(broker):
    b = broker()
    first, second = unique_topic("console-a"), unique_topic("console-b")
    for topic, partitions in ((first, 1), (second, 2)):
        result = cli(b.bootstrap, "topic", "create", topic, "--partitions", str(partitions))
        assert result.returncode == 0, result.stderr
    everything = cli(b.bootstrap, "topic", "describe")
    assert everything.returncode == 0, everything.stderr
    counts = {
        fields["Topic"]: fields["PartitionCount"]
        for fields in map(describe_fields, everything.stdout.splitlines())
        if "PartitionCount" in fields
    }
    assert counts[first] == "1" and counts[second] == "2", everything.stdout

    missing = unique_topic("console-missing")
    result = cli(b.bootstrap, "topic", "describe", missing)
    assert result.returncode == 1
    assert re.search(rf'topic "{missing}" does not exist', result.stderr), result.stderr
    assert result.stdout == ""


def test_alter_config_of_a_missing_topic_exits_1(broker):
    b = broker()
    missing = cli(b.bootstrap, "topic", "alter-config", unique_topic("nope"), "--delete", "retention.ms")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr


def test_topic_usage_errors_exit_2(broker):
    b = broker()
    for args, expected in [
        (["topic", "frobnicate"], "unknown subcommand"),
        (["topic", "create"], "exactly one TOPIC"),
        (["topic", "create", "t", "--partitions", "zero"], "--partitions needs a number"),
        (["topic", "create", "t", "--config", "retention.ms"], "key=value"),
        (["topic", "alter-config", "t"], "--set"),
        (["topic", "list", "--bogus"], "unknown option"),
    ]:
        result = cli(b.bootstrap, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Usage:" in result.stderr


def test_unreachable_broker_exits_1():
    result = cli(f"127.0.0.1:{free_port()}", "topic", "list")
    assert result.returncode == 1
    assert result.stderr.startswith("millrace topic: i/o error"), result.stderr
