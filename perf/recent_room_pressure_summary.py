"""One line per run of perf/recent_room_pressure.sh: throughput, the broker's RSS at the end,
publish and end-to-end latency quantiles, and the give-back episode the broker logged.

Usage: recent_room_pressure_summary.py RESULT_JSON LABEL RSS_MIB BROKER_LOG
"""

import json
import re
import sys

EPISODE = re.compile(
    r"after (\d+) ms short: (\d+) MiB of recent data given back "
    r"\(heap trims took at most (\d+) ms\)"
)


def quantiles(histogram):
    return "/".join(str(histogram[k]) for k in ("p50", "p99", "p99.9", "max"))


def main(result_path, label, rss_mib, log_path):
    result = json.load(open(result_path))
    episode = EPISODE.search(open(log_path).read())
    shrinks = (
        "short_ms={} given_back_mib={} trim_max_ms={}".format(*episode.groups())
        if episode
        else "no episode ended"
    )
    print(
        f"{label:8} MB/s={result['produce']['mb_per_s']:.0f} rss_end_mib={rss_mib} "
        f"publish p50/p99/p99.9/max={quantiles(result['publish_latency_ms'])} "
        f"e2e p50/p99/p99.9/max={quantiles(result['e2e_latency_ms'])} {shrinks}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
