"""The checker of a Jepsen-style history (tests/jepsen/history.py) and of replica logs.

`check(events)` finds, per partition (values are unique per send, as the producers make them):
- lost: an acknowledged send whose value is not in the final read at its acknowledged offset
  (absent, or another value there), or anywhere when it was acknowledged without an offset;
- inconsistent-offsets: one offset seen holding two different values (acks, polls, final read);
- duplicates: one value at two offsets (an idempotent producer's retry written twice);
- poll-skips: a consumer session read offset a then b > a + 1 while some offset between a and
  b holds a record (in the final read or any poll);
- nonmonotonic-polls: a consumer session read offset b <= a after a;
- unexpected: a value in the log that no producer sent;
- final-read-short: after healing, a partition could not be read up to its high watermark, or
  had none (no leader: unavailable).

`compare_replicas(log_dirs, topic, partition, hw)` compares each broker's segment bytes of the
partition (Kafka's layout, <log.dirs>/<topic>-<p>/*.log) batch by batch up to the high
watermark: every replica must hold the same bytes below it.
"""

import struct
from collections import defaultdict
from pathlib import Path

from jepsen import history as h

ANOMALIES = ("lost", "inconsistent-offsets", "duplicates", "poll-skips", "nonmonotonic-polls",
             "unexpected", "final-read-short", "replicas-differ")
# A batch's fixed prefix: base offset (8) + batch length (4); lastOffsetDelta sits at 23.
LOG_OVERHEAD_BYTES = 12
LAST_OFFSET_DELTA_AT = 23
SEGMENT_SUFFIX = ".log"
# How many examples of each anomaly a report spells out.
EXAMPLES_MAX = 10


class HistoryInvalid(AssertionError):
    """The checker found anomalies (the message lists them)."""


class KafkaBehaviourMissing(AssertionError):
    """A single-fault check saw something Apache Kafka would not do (e.g. an acks=all produce
    acknowledged by a leader alone); raised by `expect`."""


def expect(condition, message):
    if not condition:
        raise KafkaBehaviourMissing(message)


class Result:
    def __init__(self):
        self.anomalies = {name: [] for name in ANOMALIES}
        self.stats = {}

    @property
    def valid(self):
        return not any(self.anomalies.values())

    def found(self):
        return {name: found for name, found in self.anomalies.items() if found}

    def summary(self):
        lines = [f"stats: {self.stats}"]
        for name, found in self.found().items():
            lines.append(f"{name}: {len(found)}, e.g. {found[:EXAMPLES_MAX]}")
        return "\n".join(lines)

    def assert_valid(self):
        if not self.valid:
            raise HistoryInvalid(f"the history has anomalies:\n{self.summary()}")


def _by_partition(events, event_type):
    out = defaultdict(list)
    for event in events:
        if event["type"] == event_type:
            out[event["partition"]].append(event)
    return out


def check(events):
    """Checks a whole history; returns a Result (`.valid`, `.anomalies`, `.stats`)."""
    result = Result()
    sends = [e for e in events if e["type"] == h.SEND]
    acked = [e for e in sends if e["status"] == h.OK]
    sent_values = {e["value"] for e in sends}
    final = _by_partition(events, h.FINAL)
    result.stats = {
        "sends": len(sends),
        "acked": len(acked),
        "acked-without-offset": sum(not _known_offset(e) for e in acked),
        "failed": sum(e["status"] == h.FAIL for e in sends),
        "unknown": sum(e["status"] == h.INFO for e in sends),
        "polled": sum(e["type"] == h.POLL for e in events),
        "final": sum(len(v) for v in final.values()),
    }
    final_at = {(p, e["offset"]): e["value"] for p, reads in final.items() for e in reads}
    _check_lost(acked, final_at, result)
    _check_inconsistent(events, result)
    _check_duplicates(events, result)
    _check_polls(events, final_at, result)
    result.anomalies["final-read-short"] = [e for e in events if e["type"] == h.FINAL_SHORT]
    for (partition, offset), value in sorted(final_at.items()):
        if value not in sent_values:
            result.anomalies["unexpected"].append(
                {"partition": partition, "offset": offset, "value": value})
    return result


def _known_offset(send):
    """An acknowledgement may come without an offset (librdkafka reports a batch the broker
    answered DUPLICATE_SEQUENCE_NUMBER as delivered, offset unknown; Java says -1)."""
    offset = send.get("offset")
    return offset is not None and offset >= 0


def _check_lost(acked, final_at, result):
    final_values = set(final_at.values())
    for send in acked:
        if not _known_offset(send):
            if send["value"] not in final_values:
                result.anomalies["lost"].append({
                    "value": send["value"], "partition": send["partition"], "offset": None,
                    "final_read_has": None, "process": send["process"]})
            continue
        key = (send["partition"], send["offset"])
        there = final_at.get(key)
        if there != send["value"]:
            result.anomalies["lost"].append({
                "value": send["value"], "partition": key[0], "offset": key[1],
                "final_read_has": there, "process": send["process"]})


def _observations(events):
    """(partition, offset, value, source) of every ack, poll and final read."""
    for event in events:
        kind = event["type"]
        if kind == h.SEND and event["status"] == h.OK:
            if _known_offset(event):
                yield event["partition"], event["offset"], event["value"], "ack"
        elif kind in (h.POLL, h.FINAL):
            yield event["partition"], event["offset"], event["value"], kind


def _check_inconsistent(events, result):
    seen = defaultdict(dict)
    for partition, offset, value, source in _observations(events):
        seen[(partition, offset)].setdefault(value, source)
    for (partition, offset), values in sorted(seen.items()):
        if len(values) > 1:
            result.anomalies["inconsistent-offsets"].append(
                {"partition": partition, "offset": offset, "values": values})


def _check_duplicates(events, result):
    offsets = defaultdict(set)
    for partition, offset, value, source in _observations(events):
        if source != "ack":
            offsets[value].add((partition, offset))
    for value, places in sorted(offsets.items()):
        if len(places) > 1:
            result.anomalies["duplicates"].append({"value": value, "at": sorted(places)})


def _check_polls(events, final_at, result):
    present = set(final_at)
    present.update((e["partition"], e["offset"]) for e in events if e["type"] == h.POLL)
    last = {}
    for event in events:
        if event["type"] == h.ASSIGN:
            for partition in event.get("partitions", []):
                last.pop((event["process"], partition), None)
            continue
        if event["type"] != h.POLL:
            continue
        partition, offset = event["partition"], event["offset"]
        key = (event["process"], partition)
        before = last.get(key)
        last[key] = offset
        if before is None:
            continue
        if offset <= before:
            result.anomalies["nonmonotonic-polls"].append({
                "process": event["process"], "partition": partition, "after": before,
                "read": offset})
        elif offset > before + 1:
            skipped = [o for o in range(before + 1, offset) if (partition, o) in present]
            if skipped:
                result.anomalies["poll-skips"].append({
                    "process": event["process"], "partition": partition, "after": before,
                    "read": offset, "skipped": skipped[:EXAMPLES_MAX]})


# ---------------------------------------------------------------- replica logs


def partition_batches(partition_dir):
    """[(base_offset, last_offset, bytes)] of every whole batch in a partition directory's
    segments, in offset order (a torn or zero-filled tail ends a segment)."""
    batches = []
    for segment in sorted(Path(partition_dir).glob(f"*{SEGMENT_SUFFIX}")):
        data = segment.read_bytes()
        pos = 0
        while pos + LAST_OFFSET_DELTA_AT + 4 <= len(data):
            base_offset, batch_length = struct.unpack_from(">qi", data, pos)
            end = pos + LOG_OVERHEAD_BYTES + batch_length
            if batch_length <= 0 or end > len(data):
                break
            (last_delta,) = struct.unpack_from(">i", data, pos + LAST_OFFSET_DELTA_AT)
            batches.append((base_offset, base_offset + last_delta, data[pos:end]))
            pos = end
    return batches


def replica_prefix(partition_dir, hw):
    """The bytes of the batches below the high watermark, and the next offset they reach."""
    out = []
    reached = None
    for base, last, raw in partition_batches(partition_dir):
        if base >= hw:
            break
        out.append(raw)
        reached = last + 1
    return b"".join(out), reached


def compare_replicas(log_dirs, topic, partition, hw):
    """Anomalies (dicts) where replicas' logs differ below `hw`. `log_dirs` maps a broker id to
    its log.dirs; each must hold <topic>-<partition> with every batch up to hw."""
    found = []
    prefixes = {}
    for broker, log_dir in sorted(log_dirs.items()):
        partition_dir = Path(log_dir) / f"{topic}-{partition}"
        if not partition_dir.is_dir():
            found.append({"broker": broker, "partition": partition, "problem": "no partition dir"})
            continue
        data, reached = replica_prefix(partition_dir, hw)
        if hw > 0 and (reached is None or reached < hw):
            found.append({"broker": broker, "partition": partition, "hw": hw,
                          "problem": f"log reaches offset {reached}, below the high watermark"})
        prefixes[broker] = data
    brokers = sorted(prefixes)
    for broker in brokers[1:]:
        reference, other = prefixes[brokers[0]], prefixes[broker]
        if reference != other:
            at = next((i for i, (a, b) in enumerate(zip(reference, other)) if a != b),
                      min(len(reference), len(other)))
            found.append({"partition": partition, "brokers": [brokers[0], broker],
                          "problem": f"bytes differ at byte {at} below hw {hw} "
                                     f"({len(reference)} vs {len(other)} bytes)"})
    return found


def check_replicas(result, log_dirs, topic, hws):
    """Adds replicas-differ anomalies to `result` for every partition of `hws` ({p: hw})."""
    for partition, hw in sorted(hws.items()):
        result.anomalies["replicas-differ"].extend(compare_replicas(log_dirs, topic, partition, hw))
    return result

