"""A broker error is reported as an error by `millrace bench`, never as a fast result."""

from bench_helpers import run_bench
from clients import unique_topic


def test_missing_topic_with_auto_create_off_fails_loudly(broker, tmp_path):
    bootstrap, _, _ = broker(**{"auto.create.topics.enable": "false"})
    out = tmp_path / "out"
    run = run_bench(
        "--bootstrap", bootstrap, "--topic-prefix", unique_topic("bench-missing"),
        "--create-topics", "false", "--duration", "2s", "--output", out,
    )
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "UnknownTopicOrPartition" in run.stderr, run.stderr
    assert "msg/s" not in run.stdout
    assert not (out / "result.json").exists()


def test_unreachable_broker_fails_loudly(tmp_path):
    run = run_bench("--bootstrap", "127.0.0.1:1", "--duration", "1s", "--output", tmp_path / "out")
    assert run.returncode == 1
    assert "cannot reach 127.0.0.1:1" in run.stderr
