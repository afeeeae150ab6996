"""A power loss must not take a new partition's directory with it. The test-only fault plan
models one: at the torn write it reverts everything not fsynced, including directory entries
whose parent directory was never fsynced. A topic is created and a record acknowledged with
acks=all (fdatasync'd); the next write tears and the "machine" crashes. After a restart the
acknowledged record is there: the partition directory was fsynced into log.dirs when it was
created."""

from clients import consume_all, create_topic, new_producer, produce_all, unique_topic

ALLOW_ENV = "MILLRACE_ALLOW_FAULT_INJECTION"
FAULT_PLAN_KEY = "storage.fault.plan"


def test_acknowledged_records_of_a_new_partition_survive_a_power_loss(broker, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "1")
    topic = unique_topic("newdir")
    first_segment = f"{topic}-0/00000000000000000000.log"
    b = broker(**{FAULT_PLAN_KEY: f"torn-write:nth=2:bytes=0:file={first_segment}"})
    create_topic(b.bootstrap, topic, 1)
    producer = new_producer(b.bootstrap, acks="all", retries=0, **{"enable.idempotence": False})
    first = produce_all(producer, topic, [(b"k0", b"acknowledged")], partition=0)
    assert len(first.delivered) == 1, first.errors
    torn = produce_all(producer, topic, [(b"k1", b"torn")], partition=0)
    assert not torn.delivered, "a record was acknowledged by the crashed disk"

    b.kill()
    del b.overrides[FAULT_PLAN_KEY]
    b.start()
    records = consume_all(b.bootstrap, topic, 1)
    assert [value for _, _, value in records[0]] == [b"acknowledged"]
