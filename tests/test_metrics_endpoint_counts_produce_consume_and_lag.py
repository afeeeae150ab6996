"""/metrics after a real produce/consume workload: the text parses strictly as the Prometheus
text format 0.0.4, and the counters moved by the right amounts (records in == records
produced, bytes >= payload, one latency observation per request, fsyncs for acks=all),
the storage gauges match the topic, and consumer group lag equals the records a group left
unconsumed when it committed part way.

The parser below is deliberately strict: every sample must belong to a family declared by
`# HELP` and `# TYPE` just before it, no series may repeat, label values must be properly
escaped, and histogram buckets must be cumulative and end in `le="+Inf"` == `_count`.
"""

import http.client
import math
import re
import time

from confluent_kafka import TopicPartition

import kafka_wire
from clients import consume_all, create_topic, new_consumer, new_producer, produce_all, unique_topic
from conftest import HOST, free_port

PARTITIONS = 4
RECORDS = 600
PAYLOAD_BYTES = 100
SHARDS = 2
# Gauges and lag inputs are copied by each shard every 500 ms (GAUGE_REFRESH_INTERVAL_MS).
SCRAPE_DEADLINE_S = 10.0
SCRAPE_INTERVAL_S = 0.1
HTTP_TIMEOUT_S = 5.0

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
LABEL = rf"{LABEL_NAME}={LABEL_VALUE}"
SAMPLE_RE = re.compile(
    rf"^(?P<name>{METRIC_NAME})(?:\{{(?P<labels>(?:{LABEL})(?:,{LABEL})*)?\}})? (?P<value>\S+)(?: -?\d+)?$"
)
LABEL_RE = re.compile(rf"({LABEL_NAME})=({LABEL_VALUE})")
METRIC_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ParseError(AssertionError):
    pass


def unescape(quoted):
    body = quoted[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], body)


def parse_value(text, line):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf"))
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"bad value {text!r} in {line!r}") from None


def family_of(sample_name, kind, family):
    if kind == "histogram":
        return sample_name in (f"{family}_bucket", f"{family}_sum", f"{family}_count")
    return sample_name == family


def parse_exposition(text):
    """Strict parse of the text format: {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    if not text.endswith("\n"):
        raise ParseError("exposition does not end with a newline")
    families = {}
    current = None
    pending_help = None
    seen_series = set()
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP "):].partition(" ")
            if not re.fullmatch(METRIC_NAME, name) or not help_text:
                raise ParseError(f"bad HELP line {line!r}")
            pending_help = (name, help_text)
        elif line.startswith("# TYPE "):
            parts = line[len("# TYPE "):].split(" ")
            if len(parts) != 2 or parts[1] not in METRIC_TYPES:
                raise ParseError(f"bad TYPE line {line!r}")
            name, kind = parts
            if name in families:
                raise ParseError(f"family {name} declared twice")
            if pending_help is None or pending_help[0] != name:
                raise ParseError(f"TYPE of {name} without its HELP just before")
            if kind == "counter" and not name.endswith("_total"):
                raise ParseError(f"counter {name} does not end in _total")
            families[name] = {"type": kind, "help": pending_help[1], "samples": []}
            current = name
            pending_help = None
        elif line.startswith("#") or not line.strip():
            raise ParseError(f"unexpected line {line!r}")
        else:
            match = SAMPLE_RE.match(line)
            if not match:
                raise ParseError(f"bad sample line {line!r}")
            name = match.group("name")
            if current is None or not family_of(name, families[current]["type"], current):
                raise ParseError(f"sample {name} outside its family (current {current})")
            labels = {k: unescape(v) for k, v in LABEL_RE.findall(match.group("labels") or "")}
            series = (name, tuple(sorted(labels.items())))
            if series in seen_series:
                raise ParseError(f"series repeated: {series}")
            seen_series.add(series)
            families[current]["samples"].append((name, labels, parse_value(match.group("value"), line)))
    for name, family in families.items():
        if family["type"] == "histogram":
            check_histogram(name, family["samples"])
    return families


def check_histogram(name, samples):
    by_series = {}
    for sample_name, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        entry = by_series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sample_name.endswith("_bucket"):
            if "le" not in labels:
                raise ParseError(f"{name} bucket without le")
            entry["buckets"].append((parse_value(labels["le"], labels["le"]), value))
        elif sample_name.endswith("_sum"):
            entry["sum"] = value
        else:
            entry["count"] = value
    for key, entry in by_series.items():
        bounds = [le for le, _ in entry["buckets"]]
        counts = [count for _, count in entry["buckets"]]
        if bounds != sorted(bounds) or not bounds or not math.isinf(bounds[-1]):
            raise ParseError(f"{name}{key}: buckets not increasing or no +Inf: {bounds}")
        if counts != sorted(counts):
            raise ParseError(f"{name}{key}: bucket counts not cumulative: {counts}")
        if entry["count"] is None or entry["sum"] is None or entry["count"] != counts[-1]:
            raise ParseError(f"{name}{key}: _count {entry['count']} != +Inf bucket {counts[-1]}")


def test_strict_parser_rejects_broken_exposition():
    good = '# HELP a_total x\n# TYPE a_total counter\na_total{k="v\\"q"} 1\n'
    assert parse_exposition(good)["a_total"]["samples"] == [("a_total", {"k": 'v"q'}, 1.0)]
    broken = [
        "a_total 1\n",  # no family
        '# HELP a_total x\n# TYPE a_total counter\na_total{k="v"} 1\na_total{k="v"} 2\n',  # repeat
        '# HELP a_total x\n# TYPE a_total counter\na_total{k="v} 1\n',  # bad quoting
        "# HELP a x\n# TYPE a counter\na 1\n",  # counter without _total
        '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 0\nh_count 1\n',
    ]
    for text in broken:
        try:
            parse_exposition(text)
        except ParseError:
            continue
        raise AssertionError(f"accepted: {text!r}")


def http_get(port, path):
    connection = http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT_S)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        connection.close()


def scrape(port):
    status, content_type, body = http_get(port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    return parse_exposition(body)


def total(families, family, **labels):
    """Sum of a family's plain samples (histograms: their _count) matching `labels`."""
    kind = families[family]["type"]
    wanted = f"{family}_count" if kind == "histogram" else family
    return sum(
        value
        for name, sample_labels, value in families[family]["samples"]
        if name == wanted and all(sample_labels.get(k) == v for k, v in labels.items())
    )


def scrape_until(port, condition, what):
    """Gauges and lag are refreshed every 500 ms, and a latency is recorded just after the
    answer is written: scrape until `condition(families)` holds, with a deadline."""
    deadline = time.monotonic() + SCRAPE_DEADLINE_S
    families = scrape(port)
    while not condition(families):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {SCRAPE_DEADLINE_S}s")
        time.sleep(SCRAPE_INTERVAL_S)
        families = scrape(port)
    return families


def soft_open_file_limit(pid):
    limits = open(f"/proc/{pid}/limits").read()
    return int(next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3])


def lag_by_partition(families, group, topic):
    return {
        int(labels["partition"]): value
        for _, labels, value in families["millrace_consumer_group_lag"]["samples"]
        if labels["group"] == group and labels["topic"] == topic
    }


def test_metrics_count_a_produce_consume_workload_and_group_lag(broker):
    http_port = free_port()
    bootstrap, _, handle = broker(**{"num.shards": SHARDS, "http.listener": f"{HOST}:{http_port}"})
    before = scrape(http_port)
    assert total(before, "millrace_records_in_total") == 0

    topic = unique_topic("metrics")
    create_topic(bootstrap, topic, PARTITIONS)
    producer = new_producer(bootstrap, acks="all", **{"linger.ms": 5})
    messages = [(f"k{i}".encode(), bytes([65 + i % 26]) * PAYLOAD_BYTES) for i in range(RECORDS)]
    delivered = produce_all(producer, topic, messages)
    assert not delivered.errors and len(delivered.delivered) == RECORDS
    per_partition = {p: 0 for p in range(PARTITIONS)}
    for partition, _, _, _ in delivered.delivered:
        per_partition[partition] += 1

    received = consume_all(bootstrap, topic, PARTITIONS)
    assert sum(len(records) for records in received.values()) == RECORDS

    # A group that consumed everything but committed only half of each partition.
    group = unique_topic("metrics-group")
    committed = {p: count // 2 for p, count in per_partition.items()}
    committer = new_consumer(bootstrap, **{"group.id": group})
    try:
        committer.commit(
            offsets=[TopicPartition(topic, p, offset) for p, offset in committed.items()], asynchronous=False
        )
    finally:
        committer.close()
    expected_lag = {p: per_partition[p] - committed[p] for p in range(PARTITIONS)}

    def every_request_answered(families, api):
        requests = total(families, "millrace_requests_total", api=api)
        return total(families, "millrace_request_latency_seconds", api=api) == requests

    def settled(families):
        return (
            total(families, "millrace_partitions") == PARTITIONS
            and lag_by_partition(families, group, topic) == expected_lag
            and all(every_request_answered(families, api) for api in ("Produce", "Fetch", "CreateTopics"))
            and total(families, "millrace_cross_shard_messages_received_total")
            == total(families, "millrace_cross_shard_messages_sent_total")
            # Gauges are refreshed on a tick: one scrape may still show a call that has since
            # been answered. A call that never ends keeps them up and fails the wait.
            and total(families, "millrace_cross_shard_pending_requests") == 0
            and total(families, "millrace_cross_shard_queue_depth") == 0
        )

    after = scrape_until(http_port, settled, "gauges, lag and latency counts")

    # Records and bytes in: exactly what was produced (no retries on a healthy broker).
    assert total(after, "millrace_records_in_total") == RECORDS
    payload = RECORDS * PAYLOAD_BYTES
    assert total(after, "millrace_record_bytes_in_total") >= payload
    assert total(after, "millrace_request_bytes_total") >= payload
    # Records out: every record was fetched at least once.
    assert total(after, "millrace_record_bytes_out_total") >= payload
    assert total(after, "millrace_response_bytes_total") >= payload

    # Request counts: at least one Produce per partition that got records (batches >= partitions
    # used), at most one per record; Fetch, CreateTopics, OffsetCommit all seen; each counted
    # request got exactly one latency observation.
    produce_requests = total(after, "millrace_requests_total", api="Produce")
    used_partitions = sum(1 for count in per_partition.values() if count)
    assert used_partitions <= produce_requests <= RECORDS
    assert total(after, "millrace_requests_total", api="Fetch") >= 1
    assert total(after, "millrace_requests_total", api="CreateTopics") == 1
    assert total(after, "millrace_requests_total", api="OffsetCommit") == 1
    assert total(after, "millrace_request_errors_total") == 0
    assert total(after, "millrace_partition_errors_total") == 0

    # acks=all waits for fdatasync: the fsync histogram saw them.
    assert total(after, "millrace_fsync_latency_seconds") >= 1

    # Storage gauges per shard add up to the topic; 2 shards split 4 partitions.
    assert total(after, "millrace_log_segments") == PARTITIONS
    assert total(after, "millrace_log_size_bytes") >= payload
    assert total(after, "millrace_storage_failed_logs") == 0
    shards_with_partitions = {
        labels["shard"] for _, labels, value in after["millrace_partitions"]["samples"] if value > 0
    }
    assert shards_with_partitions == {"0", "1"}
    # Partitions live on both shards, so some requests crossed shards; once every message
    # sent was received, no shard has anything queued.
    assert total(after, "millrace_cross_shard_messages_sent_total") > 0
    assert total(after, "millrace_cross_shard_queue_depth") == 0
    assert total(after, "millrace_cross_shard_pending_requests") == 0
    assert total(after, "millrace_connections_accepted_total") >= 3

    # Descriptors beside their limit: the segments (the topic's, and the offsets partitions a
    # commit opened) are among the process's descriptors, which are below the limit the broker
    # runs under (its soft RLIMIT_NOFILE, as /proc shows it).
    segment_files = total(after, "millrace_segment_files_open")
    open_files = total(after, "millrace_open_files")
    limit = total(after, "millrace_open_files_limit")
    assert PARTITIONS <= segment_files < open_files < limit, (segment_files, open_files, limit)
    assert limit == soft_open_file_limit(handle.process.pid)

    # Every per-shard family reports both shards.
    for family in ("millrace_records_in_total", "millrace_reactor_stalls_total", "millrace_connections"):
        shards = {labels["shard"] for _, labels, _ in after[family]["samples"]}
        assert shards == {"0", "1"}, family
    assert total(after, "millrace_executor_tasks_total") > 0


def test_lag_follows_new_records_and_later_commits(broker):
    http_port = free_port()
    bootstrap, _, _ = broker(**{"http.listener": f"{HOST}:{http_port}"})
    topic = unique_topic("metrics-lag")
    create_topic(bootstrap, topic, 1)
    producer = new_producer(bootstrap)
    produce_all(producer, topic, [(None, b"x")] * 10, partition=0)
    group = unique_topic("lag-group")
    committer = new_consumer(bootstrap, **{"group.id": group})
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
        scrape_until(http_port, lambda f: lag_by_partition(f, group, topic) == {0: 7}, "lag 7")
        produce_all(producer, topic, [(None, b"y")] * 5, partition=0)
        scrape_until(http_port, lambda f: lag_by_partition(f, group, topic) == {0: 12}, "lag 12")
        committer.commit(offsets=[TopicPartition(topic, 0, 15)], asynchronous=False)
        scrape_until(http_port, lambda f: lag_by_partition(f, group, topic) == {0: 0}, "lag 0")
    finally:
        committer.close()


def test_requests_the_broker_refuses_are_counted_as_errors_by_api(broker):
    http_port = free_port()
    bootstrap, _, _ = broker(**{"http.listener": f"{HOST}:{http_port}"})
    refused = [
        (kafka_wire.API_METADATA, 99),  # a served API at a version outside its range
        (999, 0),  # an API key no Kafka version has
    ]
    for api_key, version in refused:
        with kafka_wire.connect(bootstrap) as sock:
            # Flexible header (tagged fields) so that the header itself decodes.
            header = kafka_wire.request_header(api_key, version, 7, flexible=True)
            sock.sendall(kafka_wire.frame(header))
            assert kafka_wire.wait_closed(sock, HTTP_TIMEOUT_S)
    families = scrape_until(
        http_port,
        lambda f: total(f, "millrace_request_errors_total") == len(refused),
        "two refused requests",
    )
    assert total(families, "millrace_request_errors_total", api="Metadata") == 1
    assert total(families, "millrace_request_errors_total", api="unknown") == 1
    assert total(families, "millrace_request_errors_total", api="ApiVersions") == 0


ZERO_AHEAD_BYTES = 32 * 1024 * 1024
ZERO_AHEAD_PARTITIONS = 2
ZERO_AHEAD_RECORDS = 4000
ZERO_AHEAD_PAYLOAD_BYTES = 4000  # 16 MB in all


def produce_and_read_back(bootstrap, name, partitions, records, payload_bytes, linger_ms):
    """Produces `records` distinct records with acks=all to a new topic of `partitions`, then
    checks that every one reads back as produced."""
    topic = unique_topic(name)
    create_topic(bootstrap, topic, partitions)
    producer = new_producer(bootstrap, acks="all", **{"linger.ms": linger_ms})
    messages = [(f"{i}".encode(), i.to_bytes(4, "big") * (payload_bytes // 4)) for i in range(records)]
    delivered = produce_all(producer, topic, messages)
    assert not delivered.errors and len(delivered.delivered) == records
    received = consume_all(bootstrap, topic, partitions)
    got = sorted((key, value) for by_partition in received.values() for _, key, value in by_partition)
    assert got == sorted(messages)


def test_zero_ahead_is_counted_when_on_and_absent_when_off(broker):
    """log.zero.ahead.bytes (storage/zero_ahead.rs): on, zeros are written past the data while a
    real producer writes, /metrics counts them, and every record reads back as produced. Off
    (the default), nothing is zeroed."""
    for zero_ahead_bytes in (ZERO_AHEAD_BYTES, 0):
        http_port = free_port()
        bootstrap, _, _ = broker(
            **{"http.listener": f"{HOST}:{http_port}", "log.zero.ahead.bytes": zero_ahead_bytes}
        )
        produce_and_read_back(
            bootstrap, "zero-ahead", ZERO_AHEAD_PARTITIONS, ZERO_AHEAD_RECORDS, ZERO_AHEAD_PAYLOAD_BYTES, linger_ms=5
        )
        families = scrape(http_port)
        zeroed = total(families, "millrace_zero_ahead_bytes_total")
        assert total(families, "millrace_zero_ahead_write_errors_total") == 0
        if zero_ahead_bytes:
            assert zeroed > 0, "no zeros written ahead with log.zero.ahead.bytes on"
        else:
            assert zeroed == 0, f"{zeroed} bytes of zeros written with log.zero.ahead.bytes=0"


SYNC_BATCH_PARTITIONS = 16
SYNC_BATCH_RECORDS = 4000
SYNC_BATCH_PAYLOAD_BYTES = 512


def test_syncs_of_many_partitions_are_batched_and_every_record_reads_back(broker):
    """storage/sync_batch.rs: with 16 partitions on one shard under an acks=all producer, the
    partitions' syncs run in batches of two or more files, one syncfs per batch (their one
    filesystem) by default and none with log.flush.syncfs.enable=false; every record reads
    back as produced either way. The write rounds and their bytes are counted too."""
    for syncfs in (True, False):
        http_port = free_port()
        bootstrap, _, _ = broker(
            **{
                "http.listener": f"{HOST}:{http_port}",
                "num.shards": 1,
                "log.flush.syncfs.enable": str(syncfs).lower(),
            }
        )
        produce_and_read_back(
            bootstrap, "sync-batch", SYNC_BATCH_PARTITIONS, SYNC_BATCH_RECORDS, SYNC_BATCH_PAYLOAD_BYTES, linger_ms=2
        )
        families = scrape(http_port)
        batches = total(families, "millrace_sync_batches_total")
        files = total(families, "millrace_sync_batch_files_total")
        syncfs_calls = total(families, "millrace_syncfs_calls_total")
        # Every partition wrote at least once, and at least the records' bytes went to disk.
        write_rounds = total(families, "millrace_log_write_rounds_total")
        written = total(families, "millrace_log_write_bytes_total")
        assert write_rounds >= SYNC_BATCH_PARTITIONS, f"{write_rounds} write rounds"
        assert written >= SYNC_BATCH_RECORDS * SYNC_BATCH_PAYLOAD_BYTES, f"{written} bytes written"
        assert batches > 0, f"no batched syncs over {SYNC_BATCH_PARTITIONS} partitions"
        assert files >= 2 * batches, f"{files} files in {batches} batches"
        if syncfs:
            assert syncfs_calls == batches, f"{syncfs_calls} syncfs for {batches} batches on one filesystem"
        else:
            assert syncfs_calls == 0, f"{syncfs_calls} syncfs calls with log.flush.syncfs.enable=false"
