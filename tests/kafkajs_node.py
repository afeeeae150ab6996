"""Runs the kafkajs scripts in tests/kafkajs (installed by tests/run.sh with `npm ci`) and reads
back the record-batch headers kafkajs wrote, for the tests/test_kafkajs_*.py tests.

Each script prints one JSON object on stdout; kafkajs's own log goes to stderr and is attached
to the assertion message when a script fails. KAFKAJS_LOG_LEVEL=debug shows kafkajs's requests.
"""

import json
import shutil
import struct
import subprocess
from collections import namedtuple
from pathlib import Path

import kafka_wire

KAFKAJS_DIR = Path(__file__).resolve().parent / "kafkajs"
# Beyond each script's own deadline (deadlineMs), so the script reports where it stood.
SCRIPT_GRACE_S = 10.0
DEFAULT_SCRIPT_DEADLINE_MS = 20000
STDERR_TAIL_CHARS = 6000
FETCH_ROUNDS_MAX = 1000

# Record batch v2 header after base offset (8) and batch length (4): partition leader epoch
# (4), magic (1), crc (4), attributes (2), last offset delta (4), base timestamp (8), max
# timestamp (8), producer id (8), producer epoch (2), base sequence (4), record count (4).
BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
COMPRESSION_MASK = 0x07
COMPRESSION_GZIP = 1

BatchHeader = namedtuple(
    "BatchHeader", "base_offset record_count compression producer_id producer_epoch base_sequence"
)


class ScriptFailed(AssertionError):
    """A script failed; `error` is kafkajs's error as the script reported it (or None)."""

    def __init__(self, message, error=None):
        super().__init__(message)
        self.error = error


def node_binary():
    node = shutil.which("node")
    if node is None:
        raise ScriptFailed("node not found: tests/run.sh installs nodejs")
    if not (KAFKAJS_DIR / "node_modules" / "kafkajs").is_dir():
        raise ScriptFailed("kafkajs not installed: npm ci --prefix tests/kafkajs (tests/run.sh does it)")
    return node


def run_script(script, *args, options=None):
    """`node tests/kafkajs/<script> args... '<options json>'`; returns the parsed JSON result.
    A script that reports an error, dies or overruns its deadline fails the calling test with
    kafkajs's error and the tail of its log."""
    options = dict(options or {})
    options.setdefault("deadlineMs", DEFAULT_SCRIPT_DEADLINE_MS)
    command = [node_binary(), str(KAFKAJS_DIR / script), *args, json.dumps(options)]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=options["deadlineMs"] / 1000 + SCRIPT_GRACE_S
        )
    except subprocess.TimeoutExpired as err:
        raise ScriptFailed(f"{script} hung past its own deadline\n{tail(err.stderr)}") from err
    result = last_json_line(completed.stdout)
    if completed.returncode != 0 or result is None or "error" in result:
        error = result and result.get("error")
        raise ScriptFailed(
            f"{script} {' '.join(args)} exited {completed.returncode}: "
            f"{json.dumps(error, indent=1)}\nkafkajs log:\n{tail(completed.stderr)}",
            error,
        )
    return result


def last_json_line(stdout):
    """The script's result: its last stdout line as JSON, or None if there is none."""
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def tail(text):
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-STDERR_TAIL_CHARS:]


def admin(bootstrap, operation, **arguments):
    """One kafkajs admin call (see tests/kafkajs/admin.js); returns its result."""
    return run_script("admin.js", bootstrap, operation, options=arguments)["result"]


def admin_error(bootstrap, operation, **arguments):
    """One kafkajs admin call that must fail; returns kafkajs's error (name, type, message)."""
    try:
        result = admin(bootstrap, operation, **arguments)
    except ScriptFailed as failed:
        return failed.error
    raise AssertionError(f"{operation} {arguments} succeeded with {result}; an error was expected")


def batch_headers(bootstrap, topic, partitions):
    """{partition: [BatchHeader]} of every batch in partitions 0..partitions-1, read with raw
    Fetch v4 requests (batches come back as stored, compressed or not)."""
    headers = {}
    with kafka_wire.connect(bootstrap) as sock:
        for partition in range(partitions):
            headers[partition] = read_partition_headers(sock, topic, partition)
    return headers


def read_partition_headers(sock, topic, partition):
    found = []
    offset = 0
    for correlation_id in range(FETCH_ROUNDS_MAX):
        answer = kafka_wire.fetch_v4(sock, correlation_id, topic, {partition: offset})
        error_code, high_watermark, records = answer[partition]
        assert error_code == kafka_wire.ERROR_NONE, f"fetch {topic}[{partition}]@{offset}: error {error_code}"
        batches = parse_headers(records)
        found += [b for b in batches if b.base_offset + b.record_count > offset]
        if batches:
            offset = batches[-1].base_offset + batches[-1].record_count
        # Stop at the high watermark without another fetch: that one would wait out max wait.
        if offset >= high_watermark:
            return found
        assert batches, f"fetch {topic}[{partition}]@{offset} below high watermark {high_watermark} gave no batch"
    raise AssertionError(f"{topic}[{partition}]: still below the high watermark after {FETCH_ROUNDS_MAX} fetches")


def parse_headers(data):
    """BatchHeaders of the whole batches in `data` (a partial last batch is ignored)."""
    out = []
    pos = 0
    while pos + BATCH_HEADER.size <= len(data):
        fields = BATCH_HEADER.unpack_from(data, pos)
        base_offset, batch_length, _, _, _, attributes = fields[:6]
        producer_id, producer_epoch, base_sequence, record_count = fields[9:]
        if batch_length <= 0 or pos + kafka_wire.LOG_OVERHEAD_BYTES + batch_length > len(data):
            break
        out.append(
            BatchHeader(
                base_offset,
                record_count,
                attributes & COMPRESSION_MASK,
                producer_id,
                producer_epoch,
                base_sequence,
            )
        )
        pos += kafka_wire.LOG_OVERHEAD_BYTES + batch_length
    return out
