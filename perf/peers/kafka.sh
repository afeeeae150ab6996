#!/usr/bin/env bash
# Apache Kafka beside millrace: resolves Kafka's jars from Maven Central (perf/peers/pom.xml,
# one pinned 4.x version) into target/peers/kafka/lib, formats KRaft storage and starts, stops
# and reports a single combined node or a cluster of N combined nodes on 127.0.0.1.
#
#   perf/peers/kafka.sh start [--nodes N] [--port P] [--controller-port P] [--heap SIZE]
#                             [--dir DIR] [--fresh] [--override key=value]... [--stop-with PID]
#   perf/peers/kafka.sh stop|status [--dir DIR]
#   perf/peers/kafka.sh fetch          # only resolve the jars (tests/run.sh does this)
#   perf/peers/kafka.sh tool CLASS ARGS...   # run a Kafka main class on the same classpath,
#                                            # e.g. org.apache.kafka.tools.ProducerPerformance
#
# Every flag has an environment variable (flags win): KAFKA_NODES (1), KAFKA_PORT (9092; node
# i listens on PORT+i), KAFKA_CONTROLLER_PORT (PORT+100; node i's controller on that +i),
# KAFKA_HEAP (6g for -Xmx and -Xms, Kafka's production advice; KAFKA_HEAP_OPTS, when set, is
# passed verbatim instead), KAFKA_PEER_DIR (target/peers/kafka/run), KAFKA_START_TIMEOUT_S
# (120), KAFKA_STOP_TIMEOUT_S (60), JAVA_HOME (else `java` on PATH).
# Flush settings stay Kafka's defaults: Kafka does not fsync before acknowledging acks=all.
# `start` keeps the data of an earlier start with the same layout; --fresh wipes it first.
# `stop` stops exactly the processes whose pid files `start` wrote under DIR; --stop-with PID
# also stops them when process PID exits (tests use it so a killed run leaves no Kafka behind).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
POM="$REPO_ROOT/perf/peers/pom.xml"
LIB_DIR="$REPO_ROOT/target/peers/kafka/lib"
LIB_MARKER="$LIB_DIR/.resolved-pom"
LOG4J_CONFIG="$REPO_ROOT/perf/peers/log4j2.xml"
HOST=127.0.0.1
MAIN_CLASS=kafka.Kafka
STORAGE_TOOL=kafka.tools.StorageTool
READY_POLL_INTERVAL_S=0.5
# How long a launched node may take to exec java (its pid is a shell's until then).
EXEC_TIMEOUT_S=30
EXEC_POLL_INTERVAL_S=0.05
# Exit status of `start` when a port it needs is taken (callers may retry on other ports).
EXIT_PORT_IN_USE=3
# Replication factor of Kafka's internal topics: its default 3 cannot be met by fewer nodes.
INTERNAL_RF_MAX=3

NODES="${KAFKA_NODES:-1}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-}"
HEAP="${KAFKA_HEAP:-6g}"
RUN_DIR="${KAFKA_PEER_DIR:-$REPO_ROOT/target/peers/kafka/run}"
START_TIMEOUT_S="${KAFKA_START_TIMEOUT_S:-120}"
STOP_TIMEOUT_S="${KAFKA_STOP_TIMEOUT_S:-60}"
FRESH=0
STOP_WITH_PID=""
OVERRIDES=()

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

java_bin() {
    if [ -n "${JAVA_HOME:-}" ]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

# ---------------------------------------------------------------- jars

fetch_jars() {
    local pom_sum
    pom_sum="$(sha256sum "$POM" | cut -d' ' -f1)"
    if [ -f "$LIB_MARKER" ] && [ "$(cat "$LIB_MARKER")" = "$pom_sum" ]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "Maven (mvn) not found: apt-get install maven"
    echo "kafka.sh: resolving Kafka's jars from Maven Central into $LIB_DIR" >&2
    rm -rf "$LIB_DIR"
    mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIB_DIR" >&2 ||
        die "mvn could not resolve the jars of $POM"
    echo "$pom_sum" >"$LIB_MARKER"
}

run_java() {
    "$(java_bin)" -Dlog4j2.configurationFile="$LOG4J_CONFIG" -cp "$LIB_DIR/*" "$@"
}

# ---------------------------------------------------------------- layout

node_dir() { echo "$RUN_DIR/node-$1"; }
broker_port() { echo $((PORT + $1)); }
controller_port() { echo $((CONTROLLER_PORT + $1)); }

controller_bootstrap() {
    local i servers=()
    for ((i = 0; i < NODES; i++)); do servers+=("$HOST:$(controller_port "$i")"); done
    (IFS=,; echo "${servers[*]}")
}

write_server_properties() {
    local i="$1" dir internal_rf min_isr
    dir="$(node_dir "$i")"
    internal_rf=$((NODES < INTERNAL_RF_MAX ? NODES : INTERNAL_RF_MAX))
    min_isr=$((internal_rf < 2 ? internal_rf : 2))
    mkdir -p "$dir"
    {
        echo "process.roles=broker,controller"
        echo "node.id=$i"
        echo "listeners=PLAINTEXT://$HOST:$(broker_port "$i"),CONTROLLER://$HOST:$(controller_port "$i")"
        echo "advertised.listeners=PLAINTEXT://$HOST:$(broker_port "$i")"
        echo "controller.listener.names=CONTROLLER"
        echo "inter.broker.listener.name=PLAINTEXT"
        echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        echo "controller.quorum.bootstrap.servers=$(controller_bootstrap)"
        echo "log.dirs=$dir/data"
        echo "offsets.topic.replication.factor=$internal_rf"
        echo "transaction.state.log.replication.factor=$internal_rf"
        echo "transaction.state.log.min.isr=$min_isr"
        echo "share.coordinator.state.topic.replication.factor=$internal_rf"
        echo "share.coordinator.state.topic.min.isr=$min_isr"
        local kv
        for kv in "${OVERRIDES[@]+"${OVERRIDES[@]}"}"; do echo "$kv"; done
    } >"$dir/server.properties"
}

layout_line() {
    echo "nodes=$NODES port=$PORT controller_port=$CONTROLLER_PORT"
}

# A Kafka Uuid as `StorageTool random-uuid` prints it (URL-safe base64 of 16 random bytes, not
# starting with '-'), without a JVM start per id.
random_uuid() {
    python3 -c 'import base64, os
while True:
    text = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not text.startswith("-"):
        print(text)
        break'
}

format_storage() {
    local cluster_id i initial=() args
    cluster_id="$(random_uuid)"
    for ((i = 0; i < NODES; i++)); do
        initial+=("$i@$HOST:$(controller_port "$i"):$(random_uuid)")
    done
    for ((i = 0; i < NODES; i++)); do
        if [ "$NODES" -eq 1 ]; then
            args=(--standalone)
        else
            args=(--initial-controllers "$(IFS=,; echo "${initial[*]}")")
        fi
        run_java "$STORAGE_TOOL" format -t "$cluster_id" -c "$(node_dir "$i")/server.properties" \
            "${args[@]}" >"$(node_dir "$i")/format.log" 2>&1 ||
            die "formatting node $i failed: $(cat "$(node_dir "$i")/format.log")"
    done
    layout_line >"$RUN_DIR/layout"
}

# ---------------------------------------------------------------- processes

pid_file() { echo "$(node_dir "$1")/kafka.pid"; }

# The pid in node i's pid file, if that process is alive and is the Kafka we started there.
running_pid() {
    local file pid
    file="$(pid_file "$1")"
    [ -f "$file" ] || return 1
    pid="$(cat "$file")"
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$(node_dir "$1")/server.properties" || return 1
    echo "$pid"
}

started_nodes() {
    local count=0
    [ -f "$RUN_DIR/layout" ] && count="$(sed -n 's/^nodes=\([0-9]*\).*/\1/p' "$RUN_DIR/layout")"
    echo "${count:-0}"
}

heap_opts() {
    if [ -n "${KAFKA_HEAP_OPTS:-}" ]; then echo "$KAFKA_HEAP_OPTS"; else echo "-Xmx$HEAP -Xms$HEAP"; fi
}

launch_node() {
    local i="$1" dir pid deadline
    dir="$(node_dir "$i")"
    # The JVM flags of Kafka's own bin/kafka-run-class.sh, so benchmarks meet Kafka as shipped.
    # shellcheck disable=SC2046
    setsid "$(java_bin)" $(heap_opts) -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -XX:MaxInlineLevel=15 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
        -cp "$LIB_DIR/*" "$MAIN_CLASS" "$dir/server.properties" \
        </dev/null >"$dir/kafka.log" 2>&1 &
    pid=$!
    echo "$pid" >"$(pid_file "$i")"
    # Until it has exec'd java, $! is a copy of this shell, whose command line running_pid does
    # not recognise: checking it then took a starting node for an exited one (with an empty
    # log) and left the JVM running, unstopped.
    deadline=$((SECONDS + EXEC_TIMEOUT_S))
    until running_pid "$i" >/dev/null; do
        node_alive "$pid" || return 0 # exited already: wait_ready reports it
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill -KILL "$pid" 2>/dev/null || true
            die "node $i (pid $pid) did not exec java within ${EXEC_TIMEOUT_S}s"
        fi
        sleep "$EXEC_POLL_INTERVAL_S"
    done
}

# Whether process PID exists and has not exited (a zombie has).
node_alive() {
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# "CLUSTER_ID BROKER_COUNT" from a Metadata v4 request to HOST:PORT (nothing when it fails).
# The cluster id tells our Kafka from anything else answering on that port.
cluster_seen() {
    python3 - "$HOST" "$1" <<'EOF' 2>/dev/null
import socket, struct, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as s:
    client = b"kafka.sh"
    # Metadata v4: no topics, no auto-creation.
    body = struct.pack(">hhih", 3, 4, 1, len(client)) + client + struct.pack(">ib", 0, 0)
    s.sendall(struct.pack(">i", len(body)) + body)
    def read(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data
    reply = read(struct.unpack(">i", read(4))[0])
    at = 8  # correlation id, throttle time
    brokers = struct.unpack_from(">i", reply, at)[0]
    at += 4
    for _ in range(brokers):
        at += 4  # node id
        at += 2 + struct.unpack_from(">h", reply, at)[0] + 4  # host, port
        rack = struct.unpack_from(">h", reply, at)[0]
        at += 2 + max(rack, 0)
    size = struct.unpack_from(">h", reply, at)[0]
    cluster = reply[at + 2:at + 2 + size].decode() if size >= 0 else ""
    print(cluster, brokers)
EOF
}

formatted_cluster_id() {
    sed -n 's/^cluster.id=//p' "$(node_dir 0)/data/meta.properties" 2>/dev/null
}

# Says why node I (pid PID) stopped, with its exit status and output; returns
# EXIT_PORT_IN_USE when a port was taken, so a caller may retry on other ports.
report_exit() {
    local i="$1" pid="$2" status=0 log note=""
    log="$(node_dir "$i")/kafka.log"
    wait "$pid" 2>/dev/null || status=$?
    [ "$status" -eq 137 ] && note=" (SIGKILL: the OOM killer?)"
    echo "kafka.sh: node $i (pid $pid) exited during start-up with status $status$note; its output ($log):" >&2
    if [ -s "$log" ]; then tail -n 60 "$log" >&2; else echo "(empty)" >&2; fi
    if grep -q "Address already in use" "$log" 2>/dev/null; then return "$EXIT_PORT_IN_USE"; fi
    return 1
}

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT_S)) i pid seen="" want
    want="$(formatted_cluster_id) $NODES"
    while [ "$SECONDS" -lt "$deadline" ]; do
        for ((i = 0; i < NODES; i++)); do
            pid="$(cat "$(pid_file "$i")")"
            if ! node_alive "$pid"; then
                report_exit "$i" "$pid"
                return
            fi
        done
        local ready=1
        for ((i = 0; i < NODES; i++)); do
            seen="$(cluster_seen "$(broker_port "$i")")"
            [ "$seen" = "$want" ] || ready=0
        done
        [ "$ready" -eq 1 ] && return 0
        sleep "$READY_POLL_INTERVAL_S"
    done
    echo "kafka.sh: not all $NODES broker(s) of cluster ${want% *} registered within" \
        "${START_TIMEOUT_S}s (last answer: '${seen:-none}'); logs in $RUN_DIR" >&2
    return 1
}

# Exits with EXIT_PORT_IN_USE if something already listens on a port this cluster needs.
check_ports_free() {
    local i port
    for ((i = 0; i < NODES; i++)); do
        for port in "$(broker_port "$i")" "$(controller_port "$i")"; do
            # SO_REUSEADDR as Java's server sockets: a port left in TIME_WAIT is free.
            if ! python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))' "$HOST" "$port" 2>/dev/null; then
                echo "kafka.sh: port $port on $HOST is in use" >&2
                exit "$EXIT_PORT_IN_USE"
            fi
        done
    done
}

cmd_start() {
    CONTROLLER_PORT="${CONTROLLER_PORT:-$((PORT + 100))}"
    [ "$NODES" -ge 1 ] || die "--nodes must be at least 1"
    local i
    for ((i = 0; i < $(started_nodes); i++)); do
        if running_pid "$i" >/dev/null; then die "already running in $RUN_DIR (node $i); stop it first"; fi
    done
    fetch_jars
    if [ "$FRESH" -eq 1 ]; then rm -rf "$RUN_DIR"; fi
    mkdir -p "$RUN_DIR"
    for ((i = 0; i < NODES; i++)); do write_server_properties "$i"; done
    if [ ! -f "$RUN_DIR/layout" ]; then
        format_storage
    elif [ "$(cat "$RUN_DIR/layout")" != "$(layout_line)" ]; then
        die "$RUN_DIR holds a cluster formatted as '$(cat "$RUN_DIR/layout")'; use --fresh to wipe it"
    fi
    check_ports_free
    for ((i = 0; i < NODES; i++)); do launch_node "$i"; done
    local ready=0
    wait_ready || ready=$?
    if [ "$ready" -ne 0 ]; then
        cmd_stop >&2
        exit "$ready"
    fi
    [ -n "$STOP_WITH_PID" ] && stop_when_gone "$STOP_WITH_PID"
    echo "kafka.sh: $NODES node(s) up, bootstrap $(bootstrap_list), data in $RUN_DIR"
}

# Stops this cluster once process PID has exited: a test run killed before its teardown
# (a timeout) leaves no Kafka behind.
stop_when_gone() {
    local watched="$1"
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; exec "$2" stop --dir "$3"' \
        _ "$watched" "$REPO_ROOT/perf/peers/kafka.sh" "$RUN_DIR" </dev/null >/dev/null 2>&1 &
}

bootstrap_list() {
    local i servers=()
    for ((i = 0; i < NODES; i++)); do servers+=("$HOST:$(broker_port "$i")"); done
    (IFS=,; echo "${servers[*]}")
}

cmd_stop() {
    local count i pid pids=()
    count="$(started_nodes)"
    for ((i = 0; i < count; i++)); do
        if pid="$(running_pid "$i")"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$(pid_file "$i")"
    done
    # All at once: a node stopped alone waits for the quorum the others still hold.
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    for pid in "${pids[@]+"${pids[@]}"}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "kafka.sh: pid $pid ignored SIGTERM for ${STOP_TIMEOUT_S}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    echo "kafka.sh: stopped ${#pids[@]} node(s) of $RUN_DIR"
}

cmd_status() {
    local count i pid up=0
    count="$(started_nodes)"
    for ((i = 0; i < count; i++)); do
        if pid="$(running_pid "$i")"; then
            echo "node $i: running (pid $pid), $(grep '^advertised.listeners=' "$(node_dir "$i")/server.properties" | cut -d= -f2)"
            up=$((up + 1))
        else
            echo "node $i: stopped"
        fi
    done
    [ "$count" -gt 0 ] || echo "no Kafka was started in $RUN_DIR"
    [ "$count" -gt 0 ] && [ "$up" -eq "$count" ]
}

# ---------------------------------------------------------------- main

[ $# -ge 1 ] || usage 2
COMMAND="$1"
shift
if [ "$COMMAND" = tool ]; then
    [ $# -ge 1 ] || die "tool needs a main class"
    fetch_jars
    run_java "$@"
    exit $?
fi
while [ $# -gt 0 ]; do
    case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --controller-port) CONTROLLER_PORT="$2"; shift 2 ;;
    --heap) HEAP="$2"; shift 2 ;;
    --dir) RUN_DIR="$2"; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --stop-with) STOP_WITH_PID="$2"; shift 2 ;;
    --override) OVERRIDES+=("$2"); shift 2 ;;
    -h | --help) usage 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
RUN_DIR="$(mkdir -p "$RUN_DIR" && cd "$RUN_DIR" && pwd)"
case "$COMMAND" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
fetch) fetch_jars ;;
-h | --help | help) usage 0 ;;
*) die "unknown command $COMMAND (start, stop, status, fetch, tool)" ;;
esac
