"""Crash-consistency tool: idempotent acks=all producers, a broker SIGKILLed at random moments
and restarted N times, then an exact verification of every partition.

    target/test-venv/bin/python tests/crashcycle.py --cycles 100

The tool owns its broker (target/release/millrace serve, a fresh data dir, a free port).
Producers are confluent-kafka (librdkafka) with enable.idempotence=true and acks=all; each writes
records whose value is `p<producer>:<sequence>` with an application sequence that only grows,
and remembers, per sequence, the partition it was sent to and the (partition, offset) of its
acknowledgement (a successful delivery report). The application never re-sends a record: a
record whose delivery failed stays un-acknowledged and is simply counted.

The verifier reads every partition from offset 0 with raw Fetch requests (so it sees each
batch's producer id, epoch and base sequence, which clients hide) and checks:

- offsets are dense and increasing from 0 in every partition (no compaction or transactions
  here, so no gap is legitimate);
- every record is one the application sent, in the partition it was sent to;
- every acknowledged record is present at exactly its acknowledged offset ("lost" otherwise);
- no (producer, sequence) appears twice within one broker-level producer session (producer id,
  epoch): the application never re-sends, so such a second copy is a client retry the broker
  failed to de-duplicate;
- per producer and partition, application sequences increase with offsets (order);
- per broker-level producer session (producer id, epoch) and partition, batch sequence numbers
  are contiguous: the broker accepted nothing out of order and nothing twice.

What is tolerated, and why: a record that was never acknowledged (its delivery failed, or the
broker died before answering) may be present or absent, and later records of the same producer
may be present after a hole. A copy of a record under a *different* (producer id, epoch) is
counted ("duplicates across sessions") and shown, not failed: when records time out
(`--message-timeout-ms` shorter than a restart), librdkafka bumps the epoch and sends records
whose earlier attempt may have been written under the old epoch again, and no broker can
recognise those. Everything is counted; `Verdict.duplicates` is the total, and the test suite
(with the default 90 s timeout, where librdkafka keeps one session) requires it to be 0.
"""

import argparse
from array import array
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO_ROOT / "target" / "release" / "millrace"
HOST = "127.0.0.1"
TOPIC = "crashcycle"
START_TIMEOUT_S = 60.0
KILL_WAIT_TIMEOUT_S = 30.0
READY_POLL_INTERVAL_S = 0.05
ADMIN_TIMEOUT_S = 30.0
FINAL_FLUSH_TIMEOUT_S = 120.0
THREAD_JOIN_TIMEOUT_S = 150.0
FETCH_PARTITION_MAX_BYTES = 4 << 20
# The verifier judges what the log holds, not how fast it is read: on a machine shared by other
# runs (their fsyncs on the same disk, their pinned shards on the same 2 CPUs) one cold 4 MiB
# Fetch can take seconds, and the old 10 s socket timeout failed whole runs that lost nothing.
# A Fetch slower than SLOW_FETCH_S is reported in the verdict's notes instead.
FETCH_TIMEOUT_S = 120.0
SLOW_FETCH_S = 2.0
FETCH_ATTEMPTS_MAX = 1_000_000
# librdkafka keeps retrying a record for this long: longer than a restart, so records in flight
# at a kill are retried in the same idempotent session instead of failing.
MESSAGE_TIMEOUT_MS = 90_000
QUEUE_MESSAGES_MAX = 20_000
VALUE_PATTERN = re.compile(rb"^p(\d+):(\d+)$")
UNCLEAN_START_TEXT = "previous shutdown unclean"
CONTROL_BATCH_FLAG = 0x20
COMPRESSION_MASK = 0x07
STDERR_TAIL_BYTES = 4000


class CrashToolError(Exception):
    """The tool itself could not run (broker would not start, topic not created, ...)."""


class BrokerProcess:
    """One `millrace serve` the tool owns; started again on the same data dir and port."""

    def __init__(self, binary, data_dir, shards, log_path, overrides=None):
        self.binary = Path(binary)
        self.overrides = dict(overrides or {})
        self.data_dir = Path(data_dir)
        self.shards = shards
        self.log_path = Path(log_path)
        self.port = free_port()
        self.process = None
        self.starts = 0
        self.log_offset = 0

    @property
    def bootstrap(self):
        return f"{HOST}:{self.port}"

    def command(self):
        settings = {
            "listeners": f"PLAINTEXT://{self.bootstrap}",
            "log.dirs": str(self.data_dir),
            "num.shards": str(self.shards),
            **self.overrides,
        }
        cmd = [str(self.binary), "serve"]
        for key, value in settings.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def start(self):
        if not self.binary.exists():
            raise CrashToolError(f"{self.binary} not built: run `cargo build --release`")
        self.starts += 1
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.wait_ready()

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CrashToolError(f"broker exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                with kafka_wire.connect(self.bootstrap, timeout_s=2.0) as sock:
                    error_code, _ = kafka_wire.api_versions_v0(sock)
                if error_code == kafka_wire.ERROR_NONE:
                    return
            except (OSError, ValueError, ConnectionError):
                pass
            time.sleep(READY_POLL_INTERVAL_S)
        raise CrashToolError(f"broker not ready within {START_TIMEOUT_S}s\n{self.log_tail()}")

    def this_start_log(self):
        """What the broker logged since the latest start."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_offset)
            return log.read().decode(errors="replace")

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=KILL_WAIT_TIMEOUT_S)

    def terminate(self, timeout_s):
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log_tail(self):
        try:
            return self.log_path.read_bytes()[-STDERR_TAIL_BYTES:].decode(errors="replace")
        except OSError:
            return "(no broker log)"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def producer_config(bootstrap, index, message_timeout_ms):
    return {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "client.id": f"crashcycle-p{index}",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "none",
        "message.timeout.ms": message_timeout_ms,
        "queue.buffering.max.messages": QUEUE_MESSAGES_MAX,
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 200,
        # Connection-refused noise during every restart; delivery errors are counted instead.
        "log_level": 2,
    }


class CrashProducer(threading.Thread):
    """Produces `p<index>:<seq>` records round-robin over partitions until stopped.

    Everything below is touched only by this thread (delivery callbacks run inside poll/flush
    on it); the main thread reads the results after join().
    """

    def __init__(self, bootstrap, index, partitions, rate_per_s, message_timeout_ms=MESSAGE_TIMEOUT_MS):
        super().__init__(name=f"crashcycle-p{index}", daemon=True)
        self.bootstrap = bootstrap
        self.index = index
        self.partitions = partitions
        self.rate_per_s = rate_per_s
        self.message_timeout_ms = message_timeout_ms
        self.next_seq = 0
        # Per sequence: the acknowledged offset, or -1. The partition is always seq % partitions
        # (records are sent there explicitly), so arrays keep millions of records cheap.
        self.acked_offsets = array("q")
        self.acked_count = 0
        self.acked_wrong_partition = 0
        self.failed = 0
        self.error_names = {}
        self.sessions = 0
        self.stopping = threading.Event()
        self.fatal = None
        self.producer = None

    def on_delivery(self, err, msg):
        seq = int(msg.value().split(b":", 1)[1])
        if err is None:
            self.acked_offsets[seq] = msg.offset()
            self.acked_count += 1
            self.acked_wrong_partition += msg.partition() != seq % self.partitions
            return
        self.failed += 1
        self.error_names[err.name()] = self.error_names.get(err.name(), 0) + 1
        if err.fatal():
            self.fatal = err

    def new_session(self):
        """A fresh idempotent producer (new producer id); the old one's queue is given up."""
        if self.producer is not None:
            self.producer.purge(in_queue=True, in_flight=False, blocking=False)
            self.producer.flush(0)
        self.producer = Producer(producer_config(self.bootstrap, self.index, self.message_timeout_ms))
        self.sessions += 1
        self.fatal = None

    def run(self):
        self.new_session()
        started = time.monotonic()
        while not self.stopping.is_set():
            if self.fatal is not None:
                self.new_session()
            if self.rate_per_s and self.next_seq > (time.monotonic() - started) * self.rate_per_s:
                self.producer.poll(0.005)
                continue
            self.produce_next()
        remaining = self.producer.flush(FINAL_FLUSH_TIMEOUT_S)
        if remaining:
            self.error_names["unflushed"] = remaining

    def produce_next(self):
        seq = self.next_seq
        partition = seq % self.partitions
        value = f"p{self.index}:{seq}".encode()
        try:
            self.producer.produce(TOPIC, value=value, partition=partition, on_delivery=self.on_delivery)
        except BufferError:
            self.producer.poll(0.01)
            return
        except KafkaException as err:
            self.fatal = err
            return
        self.acked_offsets.append(-1)
        self.next_seq += 1
        self.producer.poll(0)


# ---------------------------------------------------------------- reading the log back


@dataclass
class StoredRecord:
    partition: int
    offset: int
    producer_id: int
    producer_epoch: int
    value: bytes


@dataclass
class StoredBatch:
    partition: int
    base_offset: int
    last_offset: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    count: int


def read_partition(bootstrap, partition, slow_fetches):
    """Yields (StoredBatch, [StoredRecord]) for one partition from offset 0, by raw Fetch v4;
    appends (partition, offset, seconds) of each Fetch slower than SLOW_FETCH_S to slow_fetches."""
    offset = 0
    with kafka_wire.connect(bootstrap, timeout_s=FETCH_TIMEOUT_S) as sock:
        for correlation_id in range(1, FETCH_ATTEMPTS_MAX):
            started = time.monotonic()
            results = kafka_wire.fetch_v4(
                sock, correlation_id, TOPIC, {partition: offset}, partition_max_bytes=FETCH_PARTITION_MAX_BYTES
            )
            took_s = time.monotonic() - started
            if took_s > SLOW_FETCH_S:
                slow_fetches.append((partition, offset, round(took_s, 1)))
            error_code, high_watermark, data = results[partition]
            if error_code != kafka_wire.ERROR_NONE:
                raise CrashToolError(f"fetch {TOPIC}[{partition}] at {offset}: error {error_code}")
            if offset >= high_watermark:
                return
            decoded = decode_batches(partition, data)
            if not decoded:
                raise CrashToolError(f"fetch {TOPIC}[{partition}] at {offset} below {high_watermark} is empty")
            for batch, records in decoded:
                if batch.last_offset >= offset:
                    yield batch, records
            offset = decoded[-1][0].last_offset + 1
    raise CrashToolError(f"{TOPIC}[{partition}]: too many fetches")


def decode_batches(partition, data):
    """[(StoredBatch, [StoredRecord])] of the whole uncompressed v2 batches in `data`."""
    out = []
    pos = 0
    while pos + kafka_wire.LOG_OVERHEAD_BYTES <= len(data):
        base_offset, batch_length = struct.unpack_from(">qi", data, pos)
        end = pos + kafka_wire.LOG_OVERHEAD_BYTES + batch_length
        if batch_length <= 0 or end > len(data):
            break
        out.append(decode_batch(partition, data, pos, end, base_offset))
        pos = end
    return out


def decode_batch(partition, data, pos, end, base_offset):
    reader = kafka_wire.Reader(data[:end], pos + kafka_wire.LOG_OVERHEAD_BYTES)
    reader.int32()  # partition leader epoch
    magic = reader.int8()
    reader.uint32()  # crc: librdkafka-built batches; CRC checked by the broker on append
    attributes = reader.int16()
    if magic != 2 or attributes & (COMPRESSION_MASK | CONTROL_BATCH_FLAG):
        raise CrashToolError(f"{TOPIC}[{partition}] @{base_offset}: magic {magic} attributes {attributes:#x}")
    last_offset_delta = reader.int32()
    reader.take(16)  # first and max timestamp
    producer_id, producer_epoch, base_sequence = reader.int64(), reader.int16(), reader.int32()
    count = reader.int32()
    records = []
    for _ in range(count):
        reader.varint()  # length
        reader.int8()  # attributes
        reader.varint()  # timestamp delta
        offset_delta = reader.varint()
        key_len = reader.varint()
        if key_len > 0:
            reader.take(key_len)
        value_len = reader.varint()
        value = b"" if value_len < 0 else reader.take(value_len)
        for _ in range(reader.varint()):
            reader.take(reader.varint())
            header_len = reader.varint()
            if header_len > 0:
                reader.take(header_len)
        records.append(StoredRecord(partition, base_offset + offset_delta, producer_id, producer_epoch, value))
    batch = StoredBatch(
        partition, base_offset, base_offset + last_offset_delta, producer_id, producer_epoch, base_sequence, count
    )
    return batch, records


# ---------------------------------------------------------------- verification


@dataclass
class Verdict:
    """What the verifier found. `problems` holds violations (a few examples of each kind)."""

    records_sent: int = 0
    records_acknowledged: int = 0
    records_failed: int = 0
    records_in_log: int = 0
    acknowledged_verified: int = 0
    lost: int = 0
    duplicates: int = 0
    duplicates_same_session: int = 0
    duplicates_across_sessions: int = 0
    never_sent: int = 0
    wrong_partition: int = 0
    out_of_order: int = 0
    offset_gaps: int = 0
    session_sequence_breaks: int = 0
    unacknowledged_present: int = 0
    unacknowledged_absent: int = 0
    producer_sessions_client: int = 0
    producer_sessions_broker: int = 0
    delivery_errors: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems and self.acknowledged_verified == self.records_acknowledged

    def problem(self, kind, detail, examples_max=5):
        if sum(1 for p in self.problems if p.startswith(kind)) < examples_max:
            self.problems.append(f"{kind}: {detail}")


def verify(bootstrap, partitions, producers):
    verdict = Verdict()
    for producer in producers:
        verdict.records_sent += producer.next_seq
        verdict.records_acknowledged += producer.acked_count
        verdict.records_failed += producer.failed
        verdict.producer_sessions_client += producer.sessions
        if producer.acked_wrong_partition:
            verdict.problem("acknowledged in another partition", f"p{producer.index}: {producer.acked_wrong_partition}")
        for name, count in producer.error_names.items():
            verdict.delivery_errors[name] = verdict.delivery_errors.get(name, 0) + count
    by_index = {producer.index: producer for producer in producers}
    # Per producer and sequence: the offset where the log holds it, or -1.
    found = {p.index: array("q", [-1]) * p.next_seq for p in producers}
    # Per producer and sequence: which broker-level session (producer id, epoch) wrote it.
    found_session = {p.index: array("i", [-1]) * p.next_seq for p in producers}
    sessions = {}
    slow_fetches = []
    for partition in range(partitions):
        state = PartitionScan(partition)
        for batch, records in read_partition(bootstrap, partition, slow_fetches):
            state.check_batch(verdict, batch)
            session = sessions.setdefault((batch.producer_id, batch.producer_epoch), len(sessions))
            for record in records:
                state.check_record(verdict, record, by_index, (found, found_session, session), partitions)
    verdict.producer_sessions_broker = len(sessions)
    if slow_fetches:
        slowest = sorted(slow_fetches, key=lambda fetch: -fetch[2])[:5]
        verdict.notes.append(f"{len(slow_fetches)} Fetch(es) slower than {SLOW_FETCH_S}s (partition, offset, s): {slowest}")
    check_acknowledged(verdict, producers, found)
    return verdict


class PartitionScan:
    """Checks of one partition as its batches stream past, in offset order."""

    def __init__(self, partition):
        self.partition = partition
        self.next_offset = 0
        self.next_sequence = {}  # (producer id, epoch) -> next batch base sequence
        self.last_seq = {}  # producer index -> highest application sequence seen

    def check_batch(self, verdict, batch):
        if batch.base_offset != self.next_offset or batch.last_offset - batch.base_offset + 1 != batch.count:
            verdict.offset_gaps += 1
            verdict.problem(
                "offset gap",
                f"[{self.partition}] batch {batch.base_offset}..{batch.last_offset} ({batch.count} records), "
                f"expected base {self.next_offset}",
            )
        self.next_offset = batch.last_offset + 1
        # Within one (producer id, epoch), batch sequences continue exactly where the last ended.
        session = (batch.producer_id, batch.producer_epoch)
        expected = self.next_sequence.get(session)
        if expected is not None and batch.base_sequence != expected:
            verdict.session_sequence_breaks += 1
            verdict.problem(
                "session sequence break",
                f"[{self.partition}] pid {session[0]} epoch {session[1]} batch @{batch.base_offset} "
                f"base sequence {batch.base_sequence}, expected {expected}",
            )
        self.next_sequence[session] = batch.base_sequence + batch.count

    def check_record(self, verdict, record, by_index, seen, partitions):
        found, found_session, session = seen
        verdict.records_in_log += 1
        match = VALUE_PATTERN.match(record.value)
        producer = by_index.get(int(match.group(1))) if match else None
        seq = int(match.group(2)) if match else -1
        if producer is None or not 0 <= seq < producer.next_seq:
            verdict.never_sent += 1
            verdict.problem("never sent", f"[{self.partition}]@{record.offset} {record.value[:40]!r}")
            return
        name = f"p{producer.index}:{seq}"
        offsets = found[producer.index]
        if offsets[seq] >= 0:
            self.count_duplicate(verdict, producer, seq, record, offsets, found_session[producer.index], session)
            return
        offsets[seq] = record.offset
        found_session[producer.index][seq] = session
        if seq % partitions != self.partition:
            verdict.wrong_partition += 1
            verdict.problem("wrong partition", f"{name} sent to {seq % partitions}, found in {self.partition}")
        last = self.last_seq.get(producer.index, -1)
        if seq <= last:
            verdict.out_of_order += 1
            verdict.problem("out of order", f"{name} at [{self.partition}]@{record.offset} after sequence {last}")
        self.last_seq[producer.index] = max(seq, last)


    def count_duplicate(self, verdict, producer, seq, record, offsets, sessions, session):
        """A second copy. In the same broker session the broker failed to de-duplicate: a
        violation. Across sessions the client sent it again under a new producer id or epoch,
        which no broker can recognise: counted and shown, and the acknowledged copy (if any)
        is the one the loss check looks at."""
        verdict.duplicates += 1
        detail = (
            f"p{producer.index}:{seq} at [{self.partition}]@{record.offset} (session {session}) "
            f"and @{offsets[seq]} (session {sessions[seq]})"
        )
        if sessions[seq] == session:
            verdict.duplicates_same_session += 1
            verdict.problem("duplicate in one session", detail)
        else:
            verdict.duplicates_across_sessions += 1
            if len(verdict.notes) < 5:
                verdict.notes.append(f"duplicate across sessions: {detail}")
        if producer.acked_offsets[seq] == record.offset:
            offsets[seq] = record.offset
            sessions[seq] = session


def check_acknowledged(verdict, producers, found):
    for producer in producers:
        offsets = found[producer.index]
        for seq, acked in enumerate(producer.acked_offsets):
            present = offsets[seq]
            if acked < 0:
                if present < 0:
                    verdict.unacknowledged_absent += 1
                else:
                    verdict.unacknowledged_present += 1
            elif present == acked:
                verdict.acknowledged_verified += 1
            else:
                verdict.lost += 1
                verdict.problem(
                    "lost", f"p{producer.index}:{seq} acknowledged at [{seq % producer.partitions}]@{acked}, found at {present}"
                )


# ---------------------------------------------------------------- the run


@dataclass
class CrashRunSettings:
    cycles: int = 10
    producers: int = 3
    partitions: int = 4
    shards: int = 2
    uptime_min_s: float = 0.5
    uptime_max_s: float = 2.5
    downtime_max_s: float = 0.3
    rate_per_producer: int = 0
    # The topic's segment.bytes; 0 keeps the broker's default. Small segments make the kills land
    # in segment rolls and their seals (storage/roll.rs).
    segment_bytes: int = 0
    # More broker settings (key -> value), e.g. a storage option under test.
    broker_overrides: dict = field(default_factory=dict)
    message_timeout_ms: int = MESSAGE_TIMEOUT_MS
    seed: int = 0
    binary: str = str(DEFAULT_BINARY)
    work_dir: str = ""


@dataclass
class CrashRunReport:
    settings: dict
    verdict: dict
    unclean_restarts_seen: int
    final_sigterm_exit_code: object
    elapsed_s: float
    ok: bool


def create_topic(bootstrap, partitions, segment_bytes=0):
    admin = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    config = {"segment.bytes": str(segment_bytes)} if segment_bytes else {}
    futures = admin.create_topics([NewTopic(TOPIC, num_partitions=partitions, replication_factor=1, config=config)])
    futures[TOPIC].result(timeout=ADMIN_TIMEOUT_S)
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while time.monotonic() < deadline:
        topic = admin.list_topics(topic=TOPIC, timeout=5).topics.get(TOPIC)
        if topic is not None and topic.error is None and len(topic.partitions) == partitions:
            return
        time.sleep(READY_POLL_INTERVAL_S)
    raise CrashToolError(f"topic {TOPIC} did not show {partitions} partitions")


def kill_and_restart(broker, rng, settings):
    """One cycle: let the load run a random while, SIGKILL, restart. True if the restart
    logged that it recovers from an unclean shutdown (it must, after a SIGKILL)."""
    time.sleep(rng.uniform(settings.uptime_min_s, settings.uptime_max_s))
    broker.kill()
    time.sleep(rng.uniform(0, settings.downtime_max_s))
    broker.start()
    return UNCLEAN_START_TEXT in broker.this_start_log()


def run(settings, log=print):
    """Runs the crash cycles and the verifier; returns a CrashRunReport."""
    started = time.monotonic()
    # Absolute: with a relative log.dirs the broker failed to create partition directories (EBADF).
    work_dir = Path(settings.work_dir or tempfile.mkdtemp(prefix="millrace-crashcycle-")).resolve()
    data_dir = work_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = BrokerProcess(
        settings.binary, data_dir, settings.shards, work_dir / "broker.log", settings.broker_overrides
    )
    rng = random.Random(settings.seed)
    producers = []
    try:
        broker.start()
        create_topic(broker.bootstrap, settings.partitions, settings.segment_bytes)
        producers = [
            CrashProducer(
                broker.bootstrap, i, settings.partitions, settings.rate_per_producer, settings.message_timeout_ms
            )
            for i in range(settings.producers)
        ]
        for producer in producers:
            producer.start()
        unclean = 0
        for cycle in range(1, settings.cycles + 1):
            unclean += kill_and_restart(broker, rng, settings)
            acked = sum(p.acked_count for p in producers)
            log(f"cycle {cycle}/{settings.cycles}: killed and restarted; {acked} acknowledged so far")
        time.sleep(settings.uptime_max_s)  # the last restart serves load too
        for producer in producers:
            producer.stopping.set()
        for producer in producers:
            producer.join(THREAD_JOIN_TIMEOUT_S)
            if producer.is_alive():
                raise CrashToolError(f"producer {producer.index} did not finish flushing")
        verdict = verify(broker.bootstrap, settings.partitions, producers)
        exit_code = broker.terminate(KILL_WAIT_TIMEOUT_S)
    except BaseException:
        log(f"broker log tail:\n{broker.log_tail()}")
        raise
    finally:
        for producer in producers:
            producer.stopping.set()
        broker.kill()
    if unclean != settings.cycles:
        verdict.problems.append(f"restart log: only {unclean} of {settings.cycles} restarts reported an unclean stop")
    ok = verdict.ok and exit_code == 0
    if ok and not settings.work_dir:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        log(f"data dir and broker log kept in {work_dir}")
    return CrashRunReport(asdict(settings), asdict(verdict), unclean, exit_code, time.monotonic() - started, ok)


def parse_args(argv):
    defaults = CrashRunSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=defaults.cycles)
    parser.add_argument("--producers", type=int, default=defaults.producers)
    parser.add_argument("--partitions", type=int, default=defaults.partitions)
    parser.add_argument("--shards", type=int, default=defaults.shards)
    parser.add_argument("--uptime-min-s", type=float, default=defaults.uptime_min_s)
    parser.add_argument("--uptime-max-s", type=float, default=defaults.uptime_max_s)
    parser.add_argument("--downtime-max-s", type=float, default=defaults.downtime_max_s)
    parser.add_argument("--rate-per-producer", type=int, default=0, help="records/s per producer; 0 = as fast as it goes")
    parser.add_argument("--segment-bytes", type=int, default=0, help="the topic's segment.bytes; 0 = default")
    parser.add_argument(
        "--message-timeout-ms",
        type=int,
        default=MESSAGE_TIMEOUT_MS,
        help="librdkafka message.timeout.ms; below a restart's length, records in flight at a kill fail",
    )
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--binary", default=os.environ.get("MILLRACE_BINARY", str(DEFAULT_BINARY)))
    parser.add_argument("--work-dir", default="", help="keep data dir and broker log here (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    settings = CrashRunSettings(
        cycles=args.cycles,
        producers=args.producers,
        partitions=args.partitions,
        shards=args.shards,
        uptime_min_s=args.uptime_min_s,
        uptime_max_s=args.uptime_max_s,
        downtime_max_s=args.downtime_max_s,
        rate_per_producer=args.rate_per_producer,
        segment_bytes=args.segment_bytes,
        message_timeout_ms=args.message_timeout_ms,
        seed=args.seed,
        binary=args.binary,
        work_dir=args.work_dir,
    )
    report = run(settings, log=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(asdict(report), indent=2, default=str))
    else:
        v = report.verdict
        print(
            f"{'PASS' if report.ok else 'FAIL'}: {settings.cycles} SIGKILL cycles in {report.elapsed_s:.0f}s, seed {settings.seed}\n"
            f"  sent {v['records_sent']}, acknowledged {v['records_acknowledged']}, verified {v['acknowledged_verified']}, "
            f"lost {v['lost']}, duplicates {v['duplicates']}, never sent {v['never_sent']}, out of order {v['out_of_order']}, "
            f"offset gaps {v['offset_gaps']}, session sequence breaks {v['session_sequence_breaks']}\n"
            f"  un-acknowledged: present {v['unacknowledged_present']}, absent {v['unacknowledged_absent']}; "
            f"delivery errors {v['delivery_errors']}; producer sessions: client {v['producer_sessions_client']}, "
            f"broker (pid, epoch) {v['producer_sessions_broker']}; final SIGTERM exit {report.final_sigterm_exit_code}"
        )
        print(
            f"  duplicates: in one broker session {v['duplicates_same_session']}, "
            f"across sessions {v['duplicates_across_sessions']}"
        )
        for problem in v["problems"]:
            print(f"  PROBLEM {problem}")
        for note in v["notes"]:
            print(f"  NOTE {note}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
