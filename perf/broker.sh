# Sourced by the perf scripts that need a fresh local broker (not run on its own).
#
#   start_broker BIN [serve flags...]
# starts `BIN serve` on 127.0.0.1 (port $BROKER_PORT, or a free one) with a fresh data
# directory and the given extra flags, waits until the port accepts connections, and arranges
# for the broker to be stopped and its data removed when the calling script exits.
# Sets BROKER_PID, BROKER_DATA and BOOTSTRAP. The broker's stderr goes to $BROKER_STDERR
# (default: $BROKER_DATA/broker.stderr, removed with the data).
# A script that needs more clean-up of its own defines `cleanup_more`; it runs first.

BROKER_PID=""
BROKER_DATA=""
BROKER_WAIT_TRIES=100

stop_broker() {
    if declare -F cleanup_more >/dev/null; then cleanup_more; fi
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [ -n "$BROKER_DATA" ]; then rm -rf "$BROKER_DATA"; fi
}

start_broker() {
    local bin="$1"
    shift
    local port="${BROKER_PORT:-}"
    if [ -z "$port" ]; then
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    fi
    [ -x "$bin" ] || cargo build --release -q
    BROKER_DATA="$(mktemp -d /tmp/millrace-perf.XXXXXX)"
    trap stop_broker EXIT
    : >"${BROKER_STDERR:-$BROKER_DATA/broker.stderr}"
    serve_broker "$bin" "$port" "$@"
}

#   restart_broker BIN [serve flags...]
# stops the broker (SIGTERM: a clean shutdown) and starts BIN on the same port and data,
# waiting up to BROKER_RESTART_WAIT_TRIES x 0.1 s (loading 10,000 partitions took 11-19 s).
restart_broker() {
    local bin="$1"
    shift
    kill "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_WAIT_TRIES="${BROKER_RESTART_WAIT_TRIES:-600}" serve_broker "$bin" "${BOOTSTRAP##*:}" "$@"
}

serve_broker() {
    local bin="$1" port="$2"
    shift 2
    local stderr="${BROKER_STDERR:-$BROKER_DATA/broker.stderr}"
    "$bin" serve --override "listeners=PLAINTEXT://127.0.0.1:$port" \
        --override "advertised.listeners=PLAINTEXT://127.0.0.1:$port" \
        --override "log.dirs=$BROKER_DATA/log" "$@" 2>>"$stderr" &
    BROKER_PID=$!
    BOOTSTRAP="127.0.0.1:$port"
    for _ in $(seq "$BROKER_WAIT_TRIES"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "perf/broker.sh: the broker did not open $BOOTSTRAP; its stderr: $stderr" >&2
    return 1
}
