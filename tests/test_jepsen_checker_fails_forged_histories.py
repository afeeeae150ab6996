"""The Jepsen checker (tests/jepsen/checker.py) must fail on each anomaly it exists to find:
forged histories with a lost, a duplicated, a divergent record, a poll skip, a nonmonotonic
poll, and forged segment files where replicas differ below the high watermark. A clean history
and identical replicas pass. No broker is needed: the inputs are forged.
"""

import struct

import pytest

import kafka_wire
from jepsen import checker
from jepsen import history as h


def send(value, partition, offset=None, status=h.OK, process="p0"):
    event = {"type": h.SEND, "process": process, "time": 0.0, "value": value,
             "partition": partition, "status": status}
    if offset is not None:
        event["offset"] = offset
    return event


def poll(value, partition, offset, process="c0"):
    return {"type": h.POLL, "process": process, "time": 0.0, "value": value,
            "partition": partition, "offset": offset}


def final(value, partition, offset):
    return {"type": h.FINAL, "process": "final", "time": 0.0, "value": value,
            "partition": partition, "offset": offset}


def clean_history():
    """Two partitions, five acknowledged sends, one unknown send that did land, polls in
    order and a final read holding everything."""
    events = [{"type": h.ASSIGN, "process": "c0", "time": 0.0, "partitions": [0, 1]}]
    layout = [("a", 0, 0), ("b", 0, 1), ("c", 1, 0), ("d", 0, 2), ("e", 1, 1)]
    for value, partition, offset in layout:
        events.append(send(value, partition, offset))
    events.append(send("f", 1, status=h.INFO))
    for value, partition, offset in layout + [("f", 1, 2)]:
        events.append(poll(value, partition, offset))
        events.append(final(value, partition, offset))
    return events


def anomalies_of(events):
    return checker.check(events).found()


def test_a_clean_history_passes(tmp_path):
    path = tmp_path / "history.jsonl"
    h.write(path, clean_history())
    result = checker.check(h.load(path))
    assert result.valid, result.summary()
    assert result.stats["acked"] == 5 and result.stats["unknown"] == 1
    result.assert_valid()


def test_a_lost_acknowledged_record_fails():
    events = [e for e in clean_history() if not (e["type"] == h.FINAL and e["value"] == "b")]
    events = [e for e in events if not (e["type"] == h.POLL and e["value"] in "bd")]
    found = anomalies_of(events)
    assert list(found) == ["lost"], found
    assert found["lost"][0]["value"] == "b" and found["lost"][0]["offset"] == 1
    with pytest.raises(checker.HistoryInvalid, match="lost"):
        checker.check(events).assert_valid()


def test_a_record_read_at_another_offset_than_acknowledged_is_lost_and_divergent():
    # The log holds "d" at 1 and "b" at 2: both were acknowledged at the other's offset.
    events = clean_history()
    for event in events:
        if event["type"] in (h.FINAL, h.POLL) and event["value"] in ("b", "d"):
            event["value"] = {"b": "d", "d": "b"}[event["value"]]
    found = anomalies_of(events)
    assert {e["value"] for e in found["lost"]} == {"b", "d"}
    assert {e["offset"] for e in found["inconsistent-offsets"]} == {1, 2}


def test_two_records_at_one_offset_are_inconsistent():
    # A new leader without the old leader's data acknowledged "x" at offset 1 of partition 0,
    # where "b" had been acknowledged and read.
    events = clean_history() + [send("x", 0, 1, process="p1")]
    found = anomalies_of(events)
    assert found["inconsistent-offsets"] == [
        {"partition": 0, "offset": 1, "values": {"b": "ack", "x": "ack"}}]
    assert found["lost"][0]["value"] == "x"


def test_a_duplicated_record_fails():
    # An idempotent producer's retry written twice: "e" at offsets 1 and 3 of partition 1.
    events = clean_history() + [final("e", 1, 3)]
    found = anomalies_of(events)
    assert list(found) == ["duplicates"], found
    assert found["duplicates"] == [{"value": "e", "at": [(1, 1), (1, 3)]}]


def test_a_poll_skip_fails():
    # The consumer jumps from offset 0 to 2 of partition 0 while offset 1 ("b") exists.
    events = [e for e in clean_history() if not (e["type"] == h.POLL and e["value"] == "b")]
    found = anomalies_of(events)
    assert list(found) == ["poll-skips"], found
    assert found["poll-skips"][0]["skipped"] == [1]


def test_a_gap_nothing_holds_is_no_poll_skip_and_a_new_session_starts_over():
    events = clean_history()
    # Offset 5 of partition 0 after 2: offsets 3 and 4 hold nothing anywhere.
    events.append(poll("g", 0, 5))
    events.append(send("g", 0, 5))
    events.append(final("g", 0, 5))
    # A reassigned consumer reads partition 1 from 0 again: a new session, not nonmonotonic.
    events.append({"type": h.ASSIGN, "process": "c0", "time": 0.0, "partitions": [1]})
    events.append(poll("c", 1, 0))
    assert anomalies_of(events) == {}
    events.append(poll("c", 1, 0))
    assert list(anomalies_of(events)) == ["nonmonotonic-polls"]


def test_a_record_nobody_sent_is_unexpected():
    events = clean_history() + [final("zz", 1, 3)]
    assert list(anomalies_of(events)) == ["unexpected"]


# ---------------------------------------------------------------- replica segment files


def batch_at(base_offset, values, epoch=0):
    raw = bytearray(kafka_wire.encode_record_batch([(None, v.encode()) for v in values], 1_700_000_000_000))
    struct.pack_into(">q", raw, 0, base_offset)
    struct.pack_into(">i", raw, 12, epoch)  # partitionLeaderEpoch (outside the CRC)
    return bytes(raw)


def write_replica(log_dir, topic, partition, segments):
    """segments: {base_offset: [batch bytes]} written as Kafka-named .log files, plus an index
    the checker must ignore."""
    partition_dir = log_dir / f"{topic}-{partition}"
    partition_dir.mkdir(parents=True)
    for base, batches in segments.items():
        (partition_dir / f"{base:020d}.log").write_bytes(b"".join(batches))
        (partition_dir / f"{base:020d}.index").write_bytes(b"\x01" * 16)
    return log_dir


def three_replicas(tmp_path, leader_extra=b""):
    """Three brokers' logs of partition 0: batches [0,1], [2], [3,4] in two segments; the leader
    (broker 1) also holds `leader_extra` above the high watermark, and a zero-filled tail."""
    a, b, c = batch_at(0, ["a", "b"]), batch_at(2, ["c"]), batch_at(3, ["d", "e"], epoch=1)
    dirs = {}
    for broker in (1, 2, 3):
        tail = leader_extra + b"\x00" * 64 if broker == 1 else b""
        dirs[broker] = write_replica(tmp_path / f"b{broker}", "t", 0, {0: [a, b], 3: [c + tail]})
    return dirs


def test_identical_replicas_pass_and_bytes_above_the_high_watermark_do_not_count(tmp_path):
    dirs = three_replicas(tmp_path, leader_extra=batch_at(5, ["not yet replicated"]))
    assert checker.compare_replicas(dirs, "t", 0, hw=5) == []
    assert checker.compare_replicas(dirs, "t", 0, hw=3) == []
    result = checker.check_replicas(checker.check(clean_history()), dirs, "t", {0: 5})
    assert result.valid, result.summary()


def test_a_replica_with_other_bytes_below_the_high_watermark_fails(tmp_path):
    dirs = three_replicas(tmp_path)
    # Broker 3 kept another leader's batch at offset 2 (it never truncated).
    segment = dirs[3] / "t-0" / f"{0:020d}.log"
    segment.write_bytes(batch_at(0, ["a", "b"]) + batch_at(2, ["C"]))
    found = checker.compare_replicas(dirs, "t", 0, hw=5)
    assert [f["brokers"] for f in found if "brokers" in f] == [[1, 3]], found
    # The same batch stamped with another leader epoch differs too.
    segment.write_bytes(batch_at(0, ["a", "b"]) + batch_at(2, ["c"], epoch=7))
    assert checker.compare_replicas(dirs, "t", 0, hw=5)
    # Below the differing batch they agree.
    assert checker.compare_replicas(dirs, "t", 0, hw=2) == []


def test_a_replica_short_of_the_high_watermark_or_missing_fails(tmp_path):
    dirs = three_replicas(tmp_path)
    (dirs[2] / "t-0" / f"{3:020d}.log").unlink()
    found = checker.compare_replicas(dirs, "t", 0, hw=5)
    assert any(f.get("broker") == 2 and "below the high watermark" in f["problem"] for f in found), found
    dirs[4] = tmp_path / "b4"
    found = checker.compare_replicas(dirs, "t", 0, hw=3)
    assert [f["broker"] for f in found if "broker" in f] == [4], found
    result = checker.check_replicas(checker.check(clean_history()), dirs, "t", {0: 3})
    with pytest.raises(checker.HistoryInvalid, match="replicas-differ"):
        result.assert_valid()


def test_a_final_read_short_of_the_high_watermark_fails():
    events = clean_history() + [{"type": h.FINAL_SHORT, "process": "final", "time": 0.0,
                                 "partition": 1, "reached": 3, "hw": 9, "errors": []}]
    assert list(anomalies_of(events)) == ["final-read-short"]


def test_an_acknowledgement_without_an_offset_is_checked_by_value():
    # librdkafka reports a batch answered DUPLICATE_SEQUENCE_NUMBER as delivered, offset unknown.
    events = clean_history() + [send("f", 1, offset=None)]
    result = checker.check(events)
    assert result.valid and result.stats["acked-without-offset"] == 1, result.summary()
    events = [e for e in events if not (e["type"] in (h.FINAL, h.POLL) and e["value"] == "f")]
    assert list(anomalies_of(events)) == ["lost"]
