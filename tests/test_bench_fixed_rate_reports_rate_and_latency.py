"""`millrace bench` against a real millrace: a short fixed-rate run hits its rate, every
acknowledged message is in the broker's log and consumed, and the outputs hold the histograms."""

from bench_helpers import assert_valid_svg, histogram_total_count, load_result, log_end_offsets, run_bench
from clients import unique_topic

RATE_TOLERANCE = 0.05


def check_run(bootstrap, out, prefix, rate, partitions):
    result = load_result(out)
    produced = result["produce"]["msgs"]
    assert abs(result["produce"]["msgs_per_s"] - rate) <= RATE_TOLERANCE * rate, result["produce"]
    assert result["errors"] == 0 and result["first_error"] is None
    assert result["target_rate_reached"] is True
    # The broker holds exactly what the harness counts as acknowledged (no warm-up here).
    assert sum(log_end_offsets(bootstrap, f"{prefix}-0", partitions)) == produced
    # Every acknowledged message was consumed, and each has one end-to-end sample.
    assert result["consume"]["msgs"] == produced
    assert result["e2e_latency_ms"]["count"] == result["consume"]["msgs"]
    assert result["publish_latency_ms"]["count"] == produced
    assert histogram_total_count(result["histograms"]["e2e"]) == produced
    assert histogram_total_count(result["histograms"]["publish"]) == produced
    for latency in ("publish_latency_ms", "e2e_latency_ms"):
        figures = result[latency]
        ordered = [figures[k] for k in ("p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max")]
        assert ordered == sorted(ordered) and ordered[0] > 0, figures
    assert len(result["timeline"]) >= 2
    assert_valid_svg(out / "chart.svg", min_paths=4)
    return result


def test_fixed_rate_run_hits_its_rate_and_consumes_everything(broker, tmp_path):
    bootstrap, _, _ = broker()
    prefix = unique_topic("bench-rate")
    out = tmp_path / "out"
    run = run_bench(
        "--bootstrap", bootstrap, "--topic-prefix", prefix, "--rate", 2000, "--message-size", 200,
        "--duration", "4s", "--output", out,
    )
    assert run.returncode == 0, run.stderr
    assert "p99.99" in run.stdout and "end-to-end" in run.stdout
    assert run.stderr.count("msg/s") >= 3, run.stderr  # a progress line per second
    check_run(bootstrap, out, prefix, 2000, partitions=1)


def test_keyed_run_over_partitions_producers_and_consumers(broker, tmp_path):
    bootstrap, _, _ = broker(**{"num.shards": 2})
    prefix = unique_topic("bench-keyed")
    out = tmp_path / "out"
    run = run_bench(
        "--bootstrap", bootstrap, "--topic-prefix", prefix, "--rate", 3000, "--message-size", 64,
        "--message-size-max", 512, "--partitions-per-topic", 4, "--producers-per-topic", 2,
        "--consumers-per-topic", 2, "--keys", "round-robin", "--key-count", 16, "--duration", "3s",
        "--threads", 2, "--delete-topics", "false", "--output", out,
    )
    assert run.returncode == 0, run.stderr
    result = check_run(bootstrap, out, prefix, 3000, partitions=4)
    assert result["workload"]["keys"] == "round-robin"
    # Sizes vary: the mean payload lies strictly inside the configured range.
    mean_size = result["produce"]["bytes"] / result["produce"]["msgs"]
    assert 64 < mean_size < 512
    # Keys round-robin over partitions: every partition received records.
    assert all(end > 0 for end in log_end_offsets(bootstrap, f"{prefix}-0", 4))
