#!/usr/bin/env bash
# Does scraping /metrics disturb the data path, and what does a scrape cost?
# Starts the release broker (2 shards), runs perf/produce_consume.py ROUNDS times alternating
# without and with a scraper polling /metrics every SCRAPE_INTERVAL_S, prints each run's JSON
# line tagged "scrape": false|true, then the scrape latency (curl time_total) and body size
# after the load (the series count grows with the APIs called, not with records).
# Usage: bash perf/metrics_scrape.sh [RECORDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-200000}"
ROUNDS="${2:-3}"
SCRAPE_INTERVAL_S="${SCRAPE_INTERVAL_S:-0.1}"
HTTP_PORT="${MILLRACE_BENCH_HTTP_PORT:-19494}"
VENV="${MILLRACE_TEST_VENV:-target/test-venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=python3
SCRAPER=
cleanup_more() {
    [ -n "$SCRAPER" ] && kill "$SCRAPER" 2>/dev/null || true
}
source perf/broker.sh
BROKER_PORT="${MILLRACE_BENCH_PORT:-}" start_broker target/release/millrace \
    --override "http.listener=127.0.0.1:$HTTP_PORT" --override num.shards=2
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null && break; sleep 0.1; done

scrape_loop() {
    while true; do
        curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >/dev/null || true
        sleep "$SCRAPE_INTERVAL_S"
    done
}

for round in $(seq "$ROUNDS"); do
    for scrape in false true; do
        if [ "$scrape" = true ]; then scrape_loop & SCRAPER=$!; fi
        line=$("$PY" perf/produce_consume.py --bootstrap "$BOOTSTRAP" --records "$RECORDS" \
            --size 1024 --acks all)
        if [ -n "$SCRAPER" ]; then kill "$SCRAPER"; wait "$SCRAPER" 2>/dev/null || true; SCRAPER=; fi
        echo "{\"round\": $round, \"scrape\": $scrape, \"run\": $line}"
    done
done
for _ in 1 2 3; do
    curl -s -o /dev/null -w '{"scrape_s": %{time_total}, "scrape_bytes": %{size_download}}\n' \
        "http://127.0.0.1:$HTTP_PORT/metrics"
done
echo "{\"series\": $(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -vc '^#')}"
