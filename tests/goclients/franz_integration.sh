#!/usr/bin/env bash
# Extended mode, not in the default suite: franz-go's own kgo integration tests (the _test.go
# files of the module tests/goclients/newest pins) against a millrace broker started here on a
# free port with a fresh data dir (KGO_SEEDS, KGO_TEST_RF=1). Needs the release binary and a Go
# that builds the module (see build.sh).
#   bash tests/goclients/franz_integration.sh [RUN_REGEX [SKIP_REGEX]]
# (go test -run / -skip; default: every test but the transactional ones, which millrace does
# not serve: InitProducerId with a transactional id, AddPartitionsToTxn, EndTxn...)
# Prints go test's summary; exits with its status. The broker's log stays in the temp dir.
# 2026-12-02 (franz-go 1.22.3, 2 vCPUs, 140 s): every test passed but TestConsumeRegex, which
# expects the internal topic __consumer_offsets in Metadata; millrace keeps group offsets
# outside any topic, so it has none.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUN_REGEX=${1:-.}
SKIP_REGEX=${2:-Txn}
# franz-go's whole kgo suite, bounded; `go test` fails the run past it.
TEST_TIMEOUT=20m
BROKER=target/release/millrace
[ -x "$BROKER" ] || { echo "franz_integration.sh: build $BROKER first (cargo build --release)" >&2; exit 1; }

work=$(mktemp -d /tmp/millrace-franz-integration.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BROKER" serve --override "listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$work/data" \
    --override http.listener= --override group.initial.rebalance.delay.ms=0 >"$work/broker.log" 2>&1 &
broker_pid=$!
trap 'kill "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "millrace ready" "$work/broker.log" && break
    sleep 0.1
done
grep -q "millrace ready" "$work/broker.log" || { cat "$work/broker.log" >&2; exit 1; }
echo "franz_integration.sh: broker on 127.0.0.1:$port, log $work/broker.log" >&2

export KGO_SEEDS="127.0.0.1:$port" KGO_TEST_RF=1 GOCACHE="$PWD/target/go-cache" GOFLAGS=-mod=readonly
cd tests/goclients/newest
go test -count=1 -timeout "$TEST_TIMEOUT" -run "$RUN_REGEX" -skip "$SKIP_REGEX" github.com/twmb/franz-go/pkg/kgo
