"""`millrace bench compare` draws two real runs on one chart and prints their ratios;
a workload file drives a run, with flags overriding it."""

import re

from bench_helpers import assert_valid_svg, load_result, run_bench
from clients import unique_topic


def test_compare_two_runs_from_a_workload_file(broker, tmp_path):
    bootstrap, _, _ = broker()
    workload = tmp_path / "small.toml"
    workload.write_text(
        '# a small fixed-rate workload\nname = "slow"\nrate = 500\nmessage_size = 100\nduration = "2s"\n'
        f'topic_prefix = "{unique_topic("bench-cmp")}"\n'
    )
    slow, fast = tmp_path / "slow", tmp_path / "fast"
    first = run_bench("--workload", workload, "--bootstrap", bootstrap, "--output", slow)
    assert first.returncode == 0, first.stderr
    second = run_bench(
        "--workload", workload, "--bootstrap", bootstrap, "--name", "fast", "--rate", 1500, "--output", fast
    )
    assert second.returncode == 0, second.stderr
    assert load_result(slow)["name"] == "slow" and load_result(fast)["workload"]["rate"] == 1500
    compare = run_bench("compare", slow / "result.json", fast / "result.json", "--output", tmp_path)
    assert compare.returncode == 0, compare.stderr
    rate_line = next(line for line in compare.stdout.splitlines() if line.startswith("produce msg/s"))
    ratio = float(re.search(r"x(\d+\.\d+)", rate_line).group(1))
    assert abs(ratio - 3.0) < 0.3, rate_line
    assert_valid_svg(tmp_path / "compare.svg", min_paths=6)


def test_compare_rejects_a_file_that_is_not_a_result(tmp_path):
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": 1}')
    run = run_bench("compare", bogus, "--output", tmp_path)
    assert run.returncode == 1 and "not a millrace bench result" in run.stderr
