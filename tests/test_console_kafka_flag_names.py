"""millrace's console tools (`millrace topic|produce|consume|group`) typed the way a Kafka
user types kafka-topics, kafka-console-producer, kafka-console-consumer and
kafka-consumer-groups: --bootstrap-server, --topic, --create/--list/--describe/--delete,
--property parse.key / key.separator, --request-required-acks, --max-messages, --offset
earliest, --property print.* and --group. What `millrace consume --property ...` prints is
compared with what Kafka's own console consumer prints for the same records and flags."""

import subprocess

import pytest

from clients import unique_topic
from conftest import BROKER_BINARY
from java_clients import tool_ok

pytestmark = pytest.mark.timeout(180)
CLI_TIMEOUT_S = 60.0
RECORDS = 12
PRINT_EVERYTHING = [
    "print.timestamp=true", "print.partition=true", "print.offset=true", "print.headers=true",
    "print.key=true", "key.separator=|",
]


def millrace(*args, stdin=None):
    return subprocess.run([str(BROKER_BINARY), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S, input=stdin)


def millrace_ok(*args, stdin=None):
    done = millrace(*args, stdin=stdin)
    assert done.returncode == 0, f"millrace {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done


def properties(flag, props):
    return [part for prop in props for part in (flag, prop)]


def test_console_tools_take_kafkas_flag_names_and_print_what_kafkas_console_consumer_prints(broker):
    bootstrap, _, _ = broker(**{"group.initial.rebalance.delay.ms": 0})
    server = ["--bootstrap-server", bootstrap]
    topic = unique_topic("kafka-flags")
    group = unique_topic("kafka-flags-group")

    millrace_ok("topic", "--create", "--topic", topic, "--partitions", "2", *server)
    assert topic in millrace_ok("topic", "--list", *server).stdout.split()
    assert topic in millrace_ok("topic", "--describe", "--topic", topic, *server).stdout

    # Keys decide the partition (murmur2, as Kafka's producer); one line has an empty key.
    lines = [f"key-{i}:value {i}" for i in range(RECORDS - 1)] + [":no key"]
    produced = millrace_ok("produce", *server, "--topic", topic, "--property", "parse.key=true",
                           "--property", "key.separator=:", "--request-required-acks", "-1",
                           "--header", "source=cli", stdin="\n".join(lines) + "\n")
    assert f"Produced {RECORDS} record(s) to {topic}" in produced.stderr

    ours = millrace_ok("consume", *server, "--topic", topic, "--from-beginning", "--max-messages", str(RECORDS),
                       *properties("--property", PRINT_EVERYTHING)).stdout
    kafkas = tool_ok("org.apache.kafka.tools.consumer.ConsoleConsumer", *server, "--topic", topic,
                     "--from-beginning", "--max-messages", str(RECORDS),
                     *properties("--formatter-property", PRINT_EVERYTHING))
    # Partitions interleave in any order: compare the sets of lines, then their content.
    assert sorted(ours.splitlines()) == sorted(kafkas.splitlines())
    by_value = {line.rsplit("|", 1)[1]: line.split("|") for line in ours.splitlines()}
    assert sorted(by_value) == sorted([f"value {i}" for i in range(RECORDS - 1)] + ["no key"])
    timestamp, partition, offset, headers, key, _ = by_value["value 3"]
    assert timestamp.startswith("CreateTime:") and partition.startswith("Partition:") and offset.startswith("Offset:")
    assert (headers, key) == ("source:cli", "key-3")
    assert by_value["no key"][4] == ""

    # The default output is the value alone, as Kafka's; --offset earliest is --from-beginning.
    values = millrace_ok("consume", *server, "--topic", topic, "--offset", "earliest", "--partition", "0",
                         "--max-messages", "1", "--timeout-ms", "20000").stdout
    assert values.count("\n") == 1 and values.strip() in by_value

    # kafka-consumer-groups' form of millrace group.
    millrace_ok("consume", *server, "--topic", topic, "--group", group, "--from-beginning",
                "--max-messages", str(RECORDS))
    assert group in millrace_ok("group", "--list", *server).stdout.split()
    described = millrace_ok("group", "--describe", "--group", group, *server).stdout
    assert topic in described, described
    reset = millrace_ok("group", "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest",
                        "--execute", *server).stdout
    assert topic in reset, reset
    again = millrace_ok("consume", *server, "--topic", topic, "--group", group, "--max-messages", str(RECORDS)).stdout
    assert sorted(again.splitlines()) == sorted(by_value)
    millrace_ok("group", "--delete", "--group", group, *server)
    assert group not in millrace_ok("group", "--list", *server).stdout.split()

    millrace_ok("topic", "--delete", "--topic", topic, *server)
    assert topic not in millrace_ok("topic", "--list", *server).stdout.split()


def test_kafka_flags_that_millrace_cannot_honour_are_usage_errors(broker):
    bootstrap, _, _ = broker()
    server = ["--bootstrap-server", bootstrap]
    for args in (
        ["consume", *server, "--topic", "t", "--property", "print.everything=true"],
        ["consume", *server, "--topic", "t", "--property", "print.key=yes"],
        ["produce", *server, "--topic", "t", "--property", "parse.headers=true"],
        ["produce", *server, "--topic", "t", "--producer-property", "linger.ms=5"],
        ["topic", "--create", "--delete", "--topic", "t", *server],
        ["consume", *server, "--topic", "t", "--property", "print.key=true", "--format", "json"],
    ):
        done = millrace(*args, stdin="")
        assert done.returncode == 2, f"millrace {' '.join(args)}: exit {done.returncode}, {done.stderr}"
        assert "Usage:" in done.stderr, done.stderr
