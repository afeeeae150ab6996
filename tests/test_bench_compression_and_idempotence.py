"""`millrace bench` with compression and idempotence against a real millrace: every codec's
batches are accepted by the broker, consumed and decompressed by the harness (one end-to-end
sample per message) and read back by confluent-kafka; an idempotent run leaves exactly the
acknowledged records in the log."""

import struct

from bench_helpers import histogram_total_count, load_result, log_end_offsets, run_bench
from clients import assert_contiguous_from_zero, consume_all, unique_topic

CODECS = ("gzip", "snappy", "lz4", "zstd")
RATE = 2000
MESSAGE_SIZE = 200
PARTITIONS = 2


def bench(bootstrap, out, prefix, *extra):
    run = run_bench(
        "--bootstrap", bootstrap, "--topic-prefix", prefix, "--rate", RATE, "--message-size", MESSAGE_SIZE,
        "--partitions-per-topic", PARTITIONS, "--duration", "1500ms", "--threads", 1, "--output", out, *extra,
    )
    assert run.returncode == 0, run.stderr
    result = load_result(out)
    assert result["errors"] == 0 and result["first_error"] is None, result["first_error"]
    return result


def assert_read_back_by_confluent_kafka(bootstrap, topic, expected):
    """confluent-kafka decodes every record: values are the harness's payloads (a send time in
    nanoseconds, then filler), offsets contiguous, the count what the harness acknowledged."""
    received = consume_all(bootstrap, topic, PARTITIONS)
    assert_contiguous_from_zero(received)
    values = [value for records in received.values() for _, _, value in records]
    assert len(values) == expected
    assert all(len(value) == MESSAGE_SIZE for value in values)
    send_times = [struct.unpack(">Q", value[:8])[0] for value in values]
    assert all(t > 0 for t in send_times)


def test_every_codec_is_produced_consumed_and_readable(broker, tmp_path):
    bootstrap, _, _ = broker()
    for codec in CODECS:
        prefix = unique_topic(f"bench-{codec}")
        result = bench(bootstrap, tmp_path / codec, prefix, "--compression", codec)
        produced = result["produce"]["msgs"]
        assert produced > 0
        assert result["workload"]["compression"] == codec
        # The harness's consumer decompressed every batch to find each send time.
        assert result["consume"]["msgs"] == produced, codec
        assert result["e2e_latency_ms"]["count"] == produced, codec
        assert histogram_total_count(result["histograms"]["e2e"]) == produced
        # Filler is lowercase letters: every codec sends fewer bytes than the payloads.
        assert 0 < result["produce"]["bytes_on_wire"] < result["produce"]["bytes"], result["produce"]
        assert sum(log_end_offsets(bootstrap, f"{prefix}-0", PARTITIONS)) == produced
        assert_read_back_by_confluent_kafka(bootstrap, f"{prefix}-0", produced)


def test_idempotent_run_leaves_exactly_the_acknowledged_records(broker, tmp_path):
    bootstrap, _, _ = broker()
    prefix = unique_topic("bench-idempotent")
    result = bench(
        bootstrap, tmp_path / "idem", prefix, "--idempotence", "true", "--producers-per-topic", 2,
        "--compression", "lz4",
    )
    produced = result["produce"]["msgs"]
    assert produced > 0 and result["workload"]["idempotence"] is True
    assert sum(log_end_offsets(bootstrap, f"{prefix}-0", PARTITIONS)) == produced
    assert result["consume"]["msgs"] == produced
    assert_read_back_by_confluent_kafka(bootstrap, f"{prefix}-0", produced)


def test_idempotence_without_acks_all_is_refused(tmp_path):
    run = run_bench("--bootstrap", "127.0.0.1:1", "--idempotence", "true", "--acks", "1", "--output", tmp_path)
    assert run.returncode != 0
    assert "acks=all" in run.stderr
