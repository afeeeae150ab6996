"""Crash consistency: 10 SIGKILL cycles under idempotent acks=all load lose nothing acknowledged.

The tool (tests/crashcycle.py, which documents exactly what it checks and tolerates) runs its
own broker; the hand-run 100-cycle result is in RELIABILITY.md. The second test shows the
verifier is not vacuous: it must report a forged loss, a duplicate and a record never sent.
"""

import time

import pytest

import crashcycle
import kafka_wire

CYCLES = 10
# Caps the data volume (and so the verification time) on a fast machine.
RATE_PER_PRODUCER = 15_000
RUN_TIMEOUT_S = 600
LOAD_TIMEOUT_S = 60.0


def assert_nothing_acknowledged_lost(settings, report):
    v = report.verdict
    summary = f"seed {settings.seed}: {v}"
    assert v["problems"] == [], summary
    assert v["records_acknowledged"] > 0, summary
    assert v["acknowledged_verified"] == v["records_acknowledged"], summary
    assert v["lost"] == 0 and v["duplicates"] == 0 and v["never_sent"] == 0, summary
    assert v["out_of_order"] == 0 and v["offset_gaps"] == 0 and v["session_sequence_breaks"] == 0, summary
    assert report.unclean_restarts_seen == settings.cycles, summary
    assert report.final_sigterm_exit_code == 0, summary
    assert report.ok, summary


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_ten_sigkill_cycles_keep_every_acknowledged_record_exactly_once(tmp_path):
    settings = crashcycle.CrashRunSettings(
        cycles=CYCLES, rate_per_producer=RATE_PER_PRODUCER, seed=int(time.time()), work_dir=str(tmp_path)
    )
    assert_nothing_acknowledged_lost(settings, crashcycle.run(settings))


ROLLING_CYCLES = 6
# At the capped rate a partition fills such a segment several times a second, so kills land
# between a roll and its seal (the old segment's fdatasync, index files and directory fsync,
# done off the append path: storage/roll.rs).
ROLLING_SEGMENT_BYTES = 64 * 1024


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_sigkill_cycles_amid_segment_rolls_keep_every_acknowledged_record_exactly_once(tmp_path):
    settings = crashcycle.CrashRunSettings(
        cycles=ROLLING_CYCLES,
        rate_per_producer=RATE_PER_PRODUCER,
        segment_bytes=ROLLING_SEGMENT_BYTES,
        seed=int(time.time()),
        work_dir=str(tmp_path),
    )
    assert_nothing_acknowledged_lost(settings, crashcycle.run(settings))


ZERO_AHEAD_CYCLES = 5
ZERO_AHEAD_BYTES = 32 * 1024 * 1024
ZERO_AHEAD_SEGMENT_BYTES = 4 * 1024 * 1024


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_sigkill_cycles_with_zero_ahead_keep_every_acknowledged_record_exactly_once(tmp_path):
    """With log.zero.ahead.bytes on, zeros are written past the data while it is written,
    rolled and recovered (storage/zero_ahead.rs): none may land over a record."""
    settings = crashcycle.CrashRunSettings(
        cycles=ZERO_AHEAD_CYCLES,
        rate_per_producer=RATE_PER_PRODUCER,
        segment_bytes=ZERO_AHEAD_SEGMENT_BYTES,
        broker_overrides={"log.zero.ahead.bytes": str(ZERO_AHEAD_BYTES)},
        seed=int(time.time()),
        work_dir=str(tmp_path),
    )
    assert_nothing_acknowledged_lost(settings, crashcycle.run(settings))


def raw_batch(values):
    return kafka_wire.encode_record_batch([(None, value) for value in values], int(time.time() * 1000))


def test_verifier_reports_forged_loss_duplicate_and_foreign_record(broker):
    b = broker()
    crashcycle.create_topic(b.bootstrap, 1)
    producer = crashcycle.CrashProducer(b.bootstrap, 0, 1, rate_per_s=2000)
    producer.start()
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while producer.acked_count < 100:
        assert time.monotonic() < deadline and producer.is_alive(), "no acknowledgements"
        time.sleep(0.05)
    producer.stopping.set()
    producer.join(LOAD_TIMEOUT_S)
    clean = crashcycle.verify(b.bootstrap, 1, [producer])
    assert clean.ok, clean

    with kafka_wire.connect(b.bootstrap) as sock:
        # A second copy of sequence 0 and a record nobody sent, appended after the real ones.
        results = kafka_wire.produce_v3(sock, 1, crashcycle.TOPIC, {0: raw_batch([b"p0:0", b"p7:1"])})
        assert results[0][0] == kafka_wire.ERROR_NONE
    producer.acked_offsets[1] += 1  # pretend sequence 1 was acknowledged one offset later
    forged = crashcycle.verify(b.bootstrap, 1, [producer])

    assert not forged.ok
    assert (forged.lost, forged.duplicates, forged.never_sent) == (1, 1, 1), forged
    assert forged.acknowledged_verified == clean.acknowledged_verified - 1
