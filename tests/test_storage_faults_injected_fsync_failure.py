"""A broker started with the test-only `storage.fault.plan` key whose third fdatasync of one
partition fails: acks=all producers of that partition get KAFKA_STORAGE_ERROR from then on (the
failing write is never acknowledged), the failure is logged, the broker keeps serving other
partitions, and after a restart without faults every acknowledged record is there. The key is
refused unless MILLRACE_ALLOW_FAULT_INJECTION=1."""

import subprocess

from confluent_kafka import KafkaError

from clients import (
    assert_contiguous_from_zero,
    consume_all,
    create_topic,
    new_producer,
    produce_all,
    unique_topic,
)
from conftest import BROKER_BINARY

FAILING_SYNC = 3
ALLOW_ENV = "MILLRACE_ALLOW_FAULT_INJECTION"


def one_by_one(producer, topic, count, tag):
    """Each message in its own request (flush between), so each gets its own fdatasync."""
    logs = []
    for i in range(count):
        logs.append(produce_all(producer, topic, [(f"{tag}{i}".encode(), f"v-{tag}{i}".encode())], partition=0))
    return logs


def test_failed_fsync_takes_only_that_partition_offline(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    faulty = unique_topic("fsyncfail")
    healthy = unique_topic("healthy")
    b = broker(**{"storage.fault.plan": f"fail-sync:nth={FAILING_SYNC}:file={faulty}-0/"})
    create_topic(b.bootstrap, faulty, 1)
    create_topic(b.bootstrap, healthy, 1)
    producer = new_producer(b.bootstrap, acks="all", retries=0, **{"enable.idempotence": False})

    logs = one_by_one(producer, faulty, FAILING_SYNC + 2, "m")
    acknowledged = [log.delivered for log in logs[: FAILING_SYNC - 1]]
    assert all(len(delivered) == 1 for delivered in acknowledged), [log.errors for log in logs]
    for log in logs[FAILING_SYNC - 1 :]:
        assert not log.delivered, "a record was acknowledged after the failed fdatasync"
        assert [err.code() for err, _, _ in log.errors] == [KafkaError.KAFKA_STORAGE_ERROR]

    # The rest of the broker is unaffected.
    healthy_log = produce_all(producer, healthy, [(b"k", b"v")] * 20, partition=0)
    assert not healthy_log.errors and len(healthy_log.delivered) == 20
    assert len(consume_all(b.bootstrap, healthy, 1)[0]) == 20
    assert b.alive()
    assert "is offline after an I/O error" in b.stderr_tail(1 << 20)

    b.stop()
    restarted = broker(data_dir=b.data_dir)
    records = consume_all(restarted.bootstrap, faulty, 1)
    assert_contiguous_from_zero(records)
    values = [value for _, _, value in records[0]]
    expected = [f"v-m{i}".encode() for i in range(FAILING_SYNC - 1)]
    assert values[: len(expected)] == expected


def test_fault_plan_is_refused_without_the_environment_switch(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    result = subprocess.run(
        [
            str(BROKER_BINARY),
            "serve",
            "--override",
            f"log.dirs={tmp_path}",
            "--override",
            "storage.fault.plan=fail-sync:nth=1",
        ],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert ALLOW_ENV.encode() in result.stderr + result.stdout
