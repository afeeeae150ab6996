"""`millrace produce` and `millrace consume` against a running broker, cross-checked with a
real client (confluent-kafka): what the tool writes (keys, values, headers, partitions chosen
by Kafka's murmur2 partitioner, every compression, acks 0/1/all) is what librdkafka reads, and
what librdkafka writes is what the tool prints as JSON lines. Also start positions (beginning,
offset, time, end), --count/--timeout, group offsets, and the documented exit codes."""

import json
import subprocess
import time

from confluent_kafka import Consumer, TopicPartition

from clients import (
    consume_all,
    create_topic,
    new_producer,
    produce_all,
    quiet_config,
    unique_topic,
)
from conftest import BROKER_BINARY

CLI_TIMEOUT_S = 60.0
PARTITIONS = 3
IDLE_TIMEOUT_MS = "1500"


def cli(bootstrap, *args, stdin=None):
    """Runs `millrace ARGS --bootstrap BOOTSTRAP`; returns the CompletedProcess (text mode)."""
    command = [str(BROKER_BINARY), *args, "--bootstrap", bootstrap]
    return subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, input=stdin)


def json_records(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def headers_of(msg):
    return {k: v.decode() for k, v in (msg or [])}


def test_produced_lines_are_what_a_real_consumer_reads(broker):
    b = broker()
    topic = unique_topic("console-produce")
    create_topic(b.bootstrap, topic, PARTITIONS)
    lines = "".join(f"key{i}|value {i}\n" for i in range(300))
    result = cli(b.bootstrap, "produce", topic, "--key-separator", "|", "--header", "source=cli",
                 "--header", "run=1", "--compression", "gzip", "--batch-size", "64", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert f"Produced 300 record(s) to {topic}" in result.stderr

    consumer = Consumer({**quiet_config(b.bootstrap), "group.id": unique_topic("g"),
                         "enable.auto.commit": False, "enable.partition.eof": True})
    received = {}
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 60
        while len(received) < 300:
            assert time.monotonic() < deadline, f"only {len(received)} records"
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error() is None:
                    received[msg.key().decode()] = (msg.partition(), msg.value().decode(), headers_of(msg.headers()))
    finally:
        consumer.close()
    assert {k: v[1] for k, v in received.items()} == {f"key{i}": f"value {i}" for i in range(300)}
    assert all(h == {"source": "cli", "run": "1"} for _, _, h in received.values())

    # The same keys through librdkafka's murmur2 partitioner (Kafka's default) land alike.
    reference = unique_topic("console-murmur")
    create_topic(b.bootstrap, reference, PARTITIONS)
    producer = new_producer(b.bootstrap, partitioner="murmur2_random")
    log = produce_all(producer, reference, [(f"key{i}".encode(), b"x") for i in range(300)])
    expected = {key.decode(): partition for partition, _, key, _ in log.delivered}
    assert {k: v[0] for k, v in received.items()} == expected
    assert len(set(expected.values())) == PARTITIONS


def test_every_compression_and_acks_round_trip_through_consume(broker, tmp_path):
    b = broker()
    topic = unique_topic("console-codecs")
    create_topic(b.bootstrap, topic, 1)
    expected = []
    for codec, acks in [("none", "all"), ("gzip", "1"), ("snappy", "all"), ("lz4", "1"), ("zstd", "all")]:
        values = [f"{codec}-{i}" for i in range(20)]
        path = tmp_path / f"{codec}.txt"
        path.write_text("\r\n".join(values) + "\r\n")
        result = cli(b.bootstrap, "produce", topic, "--file", str(path), "--compression", codec,
                     "--acks", acks, "--partition", "0")
        assert result.returncode == 0, (codec, result.stderr)
        expected += values
    fire_and_forget = cli(b.bootstrap, "produce", topic, "--acks", "0", stdin="unacked\n")
    assert fire_and_forget.returncode == 0, fire_and_forget.stderr
    expected.append("unacked")

    read = cli(b.bootstrap, "consume", topic, "--from-beginning", "--count", str(len(expected)),
               "--timeout", "10000")
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines() == expected

    by_librdkafka = consume_all(b.bootstrap, topic, 1)[0]
    assert [value.decode() for _, _, value in by_librdkafka] == expected


def test_consume_prints_what_a_real_producer_wrote_as_json(broker):
    b = broker()
    topic = unique_topic("console-json")
    create_topic(b.bootstrap, topic, 2)
    producer = new_producer(b.bootstrap)
    producer.produce(topic, key=b"k1", value=b'{"quoted": "yes"}', partition=0,
                     headers=[("trace", b"abc")], timestamp=1_700_000_000_000)
    producer.produce(topic, key=None, value=b"plain", partition=1, timestamp=1_700_000_000_500)
    producer.produce(topic, key=b"k3", value=None, partition=1, timestamp=1_700_000_001_000)
    assert producer.flush(30) == 0

    result = cli(b.bootstrap, "consume", topic, "--from-beginning", "--count", "3", "--format", "json")
    assert result.returncode == 0, result.stderr
    records = sorted(json_records(result.stdout), key=lambda r: (r["partition"], r["offset"]))
    assert records == [
        {"topic": topic, "partition": 0, "offset": 0, "timestamp": 1_700_000_000_000,
         "key": "k1", "value": '{"quoted": "yes"}', "headers": {"trace": "abc"}},
        {"topic": topic, "partition": 1, "offset": 0, "timestamp": 1_700_000_000_500,
         "key": None, "value": "plain", "headers": {}},
        {"topic": topic, "partition": 1, "offset": 1, "timestamp": 1_700_000_001_000,
         "key": "k3", "value": None, "headers": {}},
    ]

    one_partition = cli(b.bootstrap, "consume", topic, "--partitions", "1", "--offset", "1",
                        "--timeout", IDLE_TIMEOUT_MS, "--format", "json")
    assert one_partition.returncode == 0, one_partition.stderr
    assert [(r["partition"], r["offset"]) for r in json_records(one_partition.stdout)] == [(1, 1)]

    by_time = cli(b.bootstrap, "consume", topic, "--from-time", "1700000000400",
                  "--timeout", IDLE_TIMEOUT_MS, "--format", "json")
    assert by_time.returncode == 0, by_time.stderr
    assert sorted((r["partition"], r["offset"]) for r in json_records(by_time.stdout)) == [(1, 0), (1, 1)]

    at_end = cli(b.bootstrap, "consume", topic, "--timeout", IDLE_TIMEOUT_MS)
    assert at_end.returncode == 0, at_end.stderr
    assert at_end.stdout == ""


def test_group_mode_commits_and_resumes(broker):
    b = broker()
    topic = unique_topic("console-group")
    group = unique_topic("console-g")
    create_topic(b.bootstrap, topic, 2)
    producer = new_producer(b.bootstrap)
    produce_all(producer, topic, [(None, f"m{i}".encode()) for i in range(10)], partition=0)
    produce_all(producer, topic, [(None, f"n{i}".encode()) for i in range(4)], partition=1)

    first = cli(b.bootstrap, "consume", topic, "--group", group, "--from-beginning",
                "--partitions", "0", "--count", "6")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"m{i}" for i in range(6)]

    # librdkafka sees the committed position.
    consumer = Consumer({**quiet_config(b.bootstrap), "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=30)
    finally:
        consumer.close()
    assert [(tp.partition, tp.offset) for tp in committed][0] == (0, 6)

    rest = cli(b.bootstrap, "consume", topic, "--group", group, "--from-beginning", "--count", "8")
    assert rest.returncode == 0, rest.stderr
    assert sorted(rest.stdout.splitlines()) == sorted([f"m{i}" for i in range(6, 10)] + [f"n{i}" for i in range(4)])

    nothing_left = cli(b.bootstrap, "consume", topic, "--group", group, "--from-beginning",
                       "--timeout", IDLE_TIMEOUT_MS)
    assert nothing_left.returncode == 0, nothing_left.stderr
    assert nothing_left.stdout == ""


def test_console_errors_have_documented_exit_codes(broker):
    b = broker()
    topic = unique_topic("console-errors")
    create_topic(b.bootstrap, topic, 1)
    missing = unique_topic("console-missing")

    for args in (["produce", missing], ["consume", missing, "--timeout", "100"]):
        result = cli(b.bootstrap, *args, stdin="x\n")
        assert result.returncode == 1, (args, result.stderr)
        assert f'topic "{missing}" does not exist' in result.stderr, result.stderr

    no_partition = cli(b.bootstrap, "produce", topic, "--partition", "7", stdin="x\n")
    assert no_partition.returncode == 1
    assert "no partition 7" in no_partition.stderr

    no_separator = cli(b.bootstrap, "produce", topic, "--key-separator", ":", stdin="k:v\nplain\n")
    assert no_separator.returncode == 1
    assert "line 2 has no key separator" in no_separator.stderr

    produce_all(new_producer(b.bootstrap), topic, [(None, b"only")])
    out_of_range = cli(b.bootstrap, "consume", topic, "--offset", "50", "--timeout", "3000")
    assert out_of_range.returncode == 1
    assert "OffsetOutOfRange" in out_of_range.stderr, out_of_range.stderr

    short = cli(b.bootstrap, "consume", topic, "--from-beginning", "--count", "5", "--timeout", "1000")
    assert short.returncode == 1
    assert short.stdout.splitlines() == ["only"]
    assert "timed out" in short.stderr and "1 of 5" in short.stderr

    for args, expected in [
        (["produce", topic, "--acks", "2"], "--acks"),
        (["produce", topic, "--compression", "brotli"], "--compression"),
        (["produce"], "exactly one TOPIC"),
        (["consume", topic, "--from-beginning", "--offset", "1"], "only one of"),
        (["consume", topic, "--format", "xml"], "--format"),
        (["consume", topic, "--count", "many"], "--count needs a number"),
    ]:
        result = cli(b.bootstrap, *args, stdin="")
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)


def test_consume_exits_0_when_its_reader_goes_away(broker):
    b = broker()
    topic = unique_topic("console-pipe")
    create_topic(b.bootstrap, topic, 1)
    produced = cli(b.bootstrap, "produce", topic, stdin="".join(f"{i}\n" for i in range(50000)))
    assert produced.returncode == 0, produced.stderr
    command = [str(BROKER_BINARY), "consume", topic, "--from-beginning", "--bootstrap", b.bootstrap]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout.readline() == b"0\n"
        process.stdout.close()
        assert process.wait(timeout=CLI_TIMEOUT_S) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
