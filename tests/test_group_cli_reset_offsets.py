"""Resume and reset: a consumer in group G commits everything, `millrace group describe` shows lag 0,
the broker restarts, a new consumer resumes at the committed offsets, and after
`millrace group reset-offsets G --to-earliest --execute` a new consumer re-reads every message.
Also: reset-offsets refuses (exit 1) while G has an active member, unknown subcommands exit 2,
and `group list` shows G."""

import re
import subprocess
import time

from confluent_kafka import Consumer

from clients import create_topic, new_producer, produce_all, quiet_config, unique_topic
from conftest import BROKER_BINARY

PARTITIONS = 2
MESSAGES = 200
DEADLINE_S = 60.0
CLI_TIMEOUT_S = 60.0
QUIET_PERIOD_S = 3.0


def group_cli(bootstrap, *args):
    """Runs `millrace group ARGS --bootstrap BOOTSTRAP`; returns the CompletedProcess."""
    command = [str(BROKER_BINARY), "group", *args, "--bootstrap", bootstrap]
    return subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def group_consumer(bootstrap, group):
    config = quiet_config(bootstrap)
    config.update(
        {
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
        }
    )
    return Consumer(config)


def consume_count(consumer, topic, expected, deadline_s=DEADLINE_S):
    """Subscribes and reads until `expected` messages arrived; returns their values."""
    consumer.subscribe([topic])
    values = []
    deadline = time.monotonic() + deadline_s
    while len(values) < expected:
        assert time.monotonic() < deadline, f"got {len(values)} of {expected} messages"
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            assert msg.error() is None, f"consumer error: {msg.error()}"
            values.append(msg.value())
    return values


def wait_for_assignment(consumer, deadline_s=DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while not consumer.assignment():
        assert time.monotonic() < deadline, "no partitions assigned"
        consumer.poll(0.05)


def describe_rows(output, group, topic):
    """{partition: (current, log_end, lag)} from `group describe` output."""
    rows = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == group and fields[1] == topic:
            rows[int(fields[2])] = (fields[3], fields[4], fields[5])
    return rows


def test_committed_group_resumes_after_restart_and_reset_to_earliest_rereads(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("reset")
    group = unique_topic("reset-g")
    create_topic(b.bootstrap, topic, PARTITIONS)
    producer = new_producer(b.bootstrap)
    # Every partition gets records, so the group commits an offset for each
    # (librdkafka's sticky partitioner may put all keyless records on one).
    for partition in range(PARTITIONS):
        share = range(partition, MESSAGES, PARTITIONS)
        produce_all(producer, topic, ((None, f"m{i}".encode()) for i in share), partition=partition)

    first = group_consumer(b.bootstrap, group)
    try:
        values = consume_count(first, topic, MESSAGES)
        first.commit(asynchronous=False)
    finally:
        first.close()
    assert sorted(values) == sorted(f"m{i}".encode() for i in range(MESSAGES))

    described = group_cli(b.bootstrap, "describe", group)
    assert described.returncode == 0, described.stderr
    rows = describe_rows(described.stdout, group, topic)
    assert sorted(rows) == list(range(PARTITIONS)), described.stdout
    assert all(lag == "0" for _, _, lag in rows.values()), described.stdout
    assert sum(int(current) for current, _, _ in rows.values()) == MESSAGES, described.stdout
    # A member-less group with committed offsets is Empty, as Kafka says (not Dead).
    assert re.search(r"is Empty with 0 member", described.stdout), described.stdout

    listed = group_cli(b.bootstrap, "list")
    assert listed.returncode == 0, listed.stderr
    assert group in listed.stdout.split()

    b.stop()
    b.start()

    second = group_consumer(b.bootstrap, group)
    try:
        second.subscribe([topic])
        wait_for_assignment(second)
        quiet_until = time.monotonic() + QUIET_PERIOD_S
        while time.monotonic() < quiet_until:
            for msg in second.consume(num_messages=1000, timeout=0.2):
                assert msg.error() is not None, f"re-delivered {msg.value()} after resume"
        produce_all(producer, topic, [(None, b"after-restart")])
        assert consume_count(second, topic, 1) == [b"after-restart"]
        second.commit(asynchronous=False)

        refused = group_cli(b.bootstrap, "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "inactive" in refused.stderr and group in refused.stderr
    finally:
        second.close()

    dry_run = group_cli(b.bootstrap, "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert dry_run.returncode == 0, dry_run.stderr
    assert "--execute" in dry_run.stdout

    reset = group_cli(b.bootstrap, "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
    assert reset.returncode == 0, reset.stderr
    plan = [line.split() for line in reset.stdout.splitlines() if line.startswith(topic)]
    assert sorted(int(fields[1]) for fields in plan) == list(range(PARTITIONS)), reset.stdout
    assert all(fields[3] == "0" for fields in plan), reset.stdout

    third = group_consumer(b.bootstrap, group)
    try:
        reread = consume_count(third, topic, MESSAGES + 1)
    finally:
        third.close()
    assert sorted(reread) == sorted([f"m{i}".encode() for i in range(MESSAGES)] + [b"after-restart"])


def test_group_cli_usage_errors_exit_2(broker):
    b = broker()
    unknown = group_cli(b.bootstrap, "frobnicate")
    assert unknown.returncode == 2
    assert "unknown subcommand" in unknown.stderr
    missing_target = group_cli(b.bootstrap, "reset-offsets", "g", "--topic", "t")
    assert missing_target.returncode == 2
    assert "--to-earliest" in missing_target.stderr


def test_group_cli_unreachable_broker_exits_1(tmp_path):
    from conftest import free_port

    result = group_cli(f"127.0.0.1:{free_port()}", "list")
    assert result.returncode == 1
    assert "millrace group" in result.stderr
