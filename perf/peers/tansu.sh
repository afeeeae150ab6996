#!/usr/bin/env bash
# Tansu beside millrace (issue 14's peer): a Rust Kafka-API broker, here with its in-memory
# storage engine (`memory://`: records live in the process's heap, no disk, no fsync). Builds
# the pinned crate from the Rust registry into target/peers/tansu, and starts and stops one node.
#
#   perf/peers/tansu.sh fetch                      # cargo install the pinned version (minutes)
#   perf/peers/tansu.sh start [--port P] [--dir DIR] [--stop-with PID]
#   perf/peers/tansu.sh stop [--dir DIR]
#
# Environment: TANSU_PORT (9092), TANSU_PEER_DIR (target/peers/tansu/run), TANSU_START_TIMEOUT_S
# (60). `start` writes DIR/tansu.pid and DIR/tansu.log; --stop-with PID also stops the node when
# process PID exits, so a killed benchmark leaves no Tansu behind.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TANSU_VERSION=0.6.0
# The in-memory engine is behind the `dynostore` feature (object_store's InMemory).
TANSU_FEATURES=dynostore
INSTALL_ROOT="$REPO_ROOT/target/peers/tansu"
TANSU_BIN="$INSTALL_ROOT/bin/tansu"
HOST=127.0.0.1
READY_POLL_INTERVAL_S=0.2
STOP_TIMEOUT_S=20

PORT="${TANSU_PORT:-9092}"
RUN_DIR="${TANSU_PEER_DIR:-$INSTALL_ROOT/run}"
START_TIMEOUT_S="${TANSU_START_TIMEOUT_S:-60}"
STOP_WITH_PID=""

die() {
    echo "tansu.sh: $*" >&2
    exit 1
}

cmd_fetch() {
    if [ -x "$TANSU_BIN" ] && "$TANSU_BIN" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
        return
    fi
    nice -n 19 cargo install tansu --version "$TANSU_VERSION" --features "$TANSU_FEATURES" \
        --locked --root "$INSTALL_ROOT"
}

port_open() {
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

cmd_start() {
    [ -x "$TANSU_BIN" ] || die "$TANSU_BIN is missing: run 'perf/peers/tansu.sh fetch' first"
    port_open && die "something already listens on $HOST:$PORT"
    mkdir -p "$RUN_DIR"
    "$TANSU_BIN" broker --listener-url "tcp://$HOST:$PORT" \
        --advertised-listener-url "tcp://$HOST:$PORT" --storage-engine "memory://tansu/" \
        </dev/null >"$RUN_DIR/tansu.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$RUN_DIR/tansu.pid"
    if [ -n "$STOP_WITH_PID" ]; then
        (while kill -0 "$STOP_WITH_PID" 2>/dev/null; do sleep 1; done
            kill "$pid" 2>/dev/null || true) >/dev/null 2>&1 &
    fi
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until port_open; do
        kill -0 "$pid" 2>/dev/null || die "tansu exited before listening; see $RUN_DIR/tansu.log"
        [ "$SECONDS" -lt "$deadline" ] || die "tansu not listening after ${START_TIMEOUT_S}s"
        sleep "$READY_POLL_INTERVAL_S"
    done
    echo "tansu $TANSU_VERSION (memory storage) pid $pid at $HOST:$PORT"
}

cmd_stop() {
    local pid
    pid="$(cat "$RUN_DIR/tansu.pid" 2>/dev/null)" || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq $((STOP_TIMEOUT_S * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$RUN_DIR/tansu.pid"
}

command="${1:-}"
shift || true
while [ $# -gt 0 ]; do
    case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --dir) RUN_DIR="$2"; shift 2 ;;
    --stop-with) STOP_WITH_PID="$2"; shift 2 ;;
    *) die "unknown flag $1" ;;
    esac
done
case "$command" in
fetch) cmd_fetch ;;
start) cmd_start ;;
stop) cmd_stop ;;
*) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
