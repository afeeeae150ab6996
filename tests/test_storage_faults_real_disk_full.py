"""A real full disk: the broker's log.dirs is a small loop-mounted ext4. With the disk filled,
acks=all producers get KAFKA_STORAGE_ERROR (nothing unwritten is acknowledged), fetches of the
existing data keep working, the broker stays up, and once space is freed appends succeed again
with offsets continuing densely. A refused record never becomes visible: not while the disk is
full, not once space returns, not after a restart (it was rolled back, not kept to be written
later). Needs root (mount); skipped with the reason otherwise."""

import errno
import os
import shutil
import subprocess

import pytest
from confluent_kafka import KafkaError

from clients import (
    assert_contiguous_from_zero,
    consume_all,
    create_topic,
    new_producer,
    produce_all,
    unique_topic,
)

# Room for a broker that preallocated 64 MiB per segment up front (its refusals came only when a
# segment had to grow past that, with the refused batch kept in memory).
IMAGE_BYTES = 160 << 20
VALUE = b"x" * 1000
FILL_CHUNKS = (1 << 20, 4096)
MAX_FULL_ATTEMPT_BATCHES = 200
BATCH = 1000


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def small_disk(tmp_path):
    """A mounted 160 MiB ext4 at tmp_path/broker/data (the broker's log.dirs; its stderr.log
    goes to the parent, off the small disk)."""
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        pytest.skip("needs root and mkfs.ext4 to mount a loop ext4")
    image = tmp_path / "disk.img"
    mount_point = tmp_path / "broker" / "data"
    mount_point.mkdir(parents=True)
    with open(image, "wb") as f:
        f.truncate(IMAGE_BYTES)
    made = run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
    mounted = run("mount", "-o", "loop", str(image), str(mount_point))
    if mounted.returncode != 0:
        pytest.skip(f"this platform forbids a loop mount: {mounted.stderr.strip()}")
    try:
        (mount_point / "lost+found").rmdir()  # not a partition directory
        yield mount_point
    finally:
        if run("umount", str(mount_point)).returncode != 0:
            run("umount", "-l", str(mount_point))


def fill(path):
    """Writes `path` until the disk refuses; returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in FILL_CHUNKS:
            block = b"\0" * chunk
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as err:
                    assert err.errno == errno.ENOSPC, err
                    break
        try:
            os.fsync(fd)
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return written


def messages(tag, count):
    return [(f"{tag}{i}".encode(), VALUE) for i in range(count)]


def test_full_disk_refuses_appends_serves_reads_and_recovers(small_disk, broker):
    b = broker(data_dir=small_disk)
    try:
        topic = unique_topic("diskfull")
        create_topic(b.bootstrap, topic, 1)
        producer = new_producer(
            b.bootstrap, acks="all", retries=0, **{"enable.idempotence": False, "linger.ms": 5}
        )
        before = produce_all(producer, topic, messages("a", 200), partition=0)
        assert not before.errors and len(before.delivered) == 200

        filler = small_disk / "filler"
        assert fill(filler) > 0
        # Keep producing until growing the segment (its next preallocation) hits ENOSPC.
        delivered = list(before.delivered)
        errors = []
        refused = set()
        for attempt in range(MAX_FULL_ATTEMPT_BATCHES):
            log = produce_all(producer, topic, messages(f"f{attempt}-", BATCH), partition=0)
            delivered += log.delivered
            errors += [err.code() for err, _, _ in log.errors]
            refused |= {key for _, key, _ in log.errors}
            if errors:
                break
        assert errors, "the full disk never refused an append"
        assert set(errors) == {KafkaError.KAFKA_STORAGE_ERROR}, errors
        assert b.alive()

        # Reads keep working while the disk is full: every acknowledged record is served, and
        # no refused one.
        records = consume_all(b.bootstrap, topic, 1)
        assert_contiguous_from_zero(records)
        served = {(offset, key) for offset, key, _ in records[0]}
        assert {(offset, key) for _, offset, key, _ in delivered} <= served
        assert_only_delivered(records, delivered, refused)

        # Space freed: appends are accepted again (the client retries through the retry delay).
        filler.unlink()
        retrying = new_producer(b.bootstrap, acks="all", **{"enable.idempotence": True})
        after = produce_all(retrying, topic, messages("z", 50), partition=0)
        assert not after.errors and len(after.delivered) == 50
        records = consume_all(b.bootstrap, topic, 1)
        assert_contiguous_from_zero(records)
        keys = [key for _, key, _ in records[0]]
        assert keys[-50:] == [f"z{i}".encode() for i in range(50)]
        assert_only_delivered(records, delivered + after.delivered, refused)
        assert "disk full" in b.stderr_tail(1 << 20)

        # Nor after a restart.
        b.stop()
        b.start()
        records = consume_all(b.bootstrap, topic, 1)
        assert_contiguous_from_zero(records)
        assert_only_delivered(records, delivered + after.delivered, refused)
    finally:
        b.kill()


def assert_only_delivered(records, delivered, refused):
    """The partition holds exactly the acknowledged records, in order: no refused record."""
    keys = [key for _, key, _ in records[0]]
    shown = sorted(refused & set(keys))
    assert not shown, f"{len(shown)} refused record(s) visible, e.g. {shown[:3]}"
    assert keys == [key for _, _, key, _ in sorted(delivered, key=lambda d: d[1])]
