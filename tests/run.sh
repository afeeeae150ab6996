#!/usr/bin/env bash
# The test command: installs what the tests need (idempotent, quiet), builds the release
# broker, runs the Rust unit tests, then the black-box suite against target/release/millrace.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -k kcat -x`.
# Extended mode: MILLRACE_TEST_FUZZ_SECONDS=60 bash tests/run.sh also runs every cargo-fuzz
# target for that many seconds (fuzz/run.sh; off by default: the first fuzz build takes minutes).
# Extended mode, run by hand: bash tests/goclients/franz_integration.sh [REGEX] runs franz-go's
# own kgo integration tests against a fresh broker (minutes; transactions are not served).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${MILLRACE_TEST_VENV:-target/test-venv}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_system_packages() {
    local missing=()
    command -v kcat >/dev/null 2>&1 || missing+=(kcat)
    # The systemd-unit test traces a broker; the full-disk test formats a small ext4 image.
    command -v strace >/dev/null 2>&1 || missing+=(strace)
    command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    # The kafkajs tests run a Node.js client.
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    if [ ! -x "$VENV/bin/python" ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing+=(python3-venv)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "tests/run.sh: installing ${missing[*]} with apt-get" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

install_go_clients() {
    # Debian's Go and its Sarama / kafka-go sources (tests/goclients/build.sh debian builds in
    # GOPATH mode: no module proxy). If apt cannot install them, only those tests skip.
    local missing=()
    command -v go >/dev/null 2>&1 || missing+=(golang-go)
    [ -d /usr/share/gocode/src/github.com/Shopify/sarama ] || missing+=(golang-github-shopify-sarama-dev)
    [ -d /usr/share/gocode/src/github.com/segmentio/kafka-go ] || missing+=(golang-github-segmentio-kafka-go-dev)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "tests/run.sh: installing ${missing[*]} with apt-get" >&2
        { as_root apt-get update -qq &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
            echo "tests/run.sh: could not install ${missing[*]}; the Go client tests will skip" >&2
    fi
    bash tests/goclients/build.sh debian || [ $? -eq 2 ]
    # franz-go and the newest Sarama / kafka-go: tests/goclients/newest/go.mod, from the Go module
    # proxy. It needs Go 1.26 (this machine kind's /usr/local/go); a Go 1.21+ that is older
    # fetches a newer toolchain through the proxy (build.sh sets GOTOOLCHAIN). Debian's own Go
    # (1.19) cannot: then only those tests skip.
    bash tests/goclients/build.sh newest || [ $? -eq 2 ]
}

install_java_clients() {
    # A JDK and Maven for the Java client tests (tests/test_java_*.py): tests/java/build.sh
    # resolves kafka-clients, kafka-streams and kafka-tools (pinned in tests/java/pom.xml) from
    # Maven Central into ~/.m2 and builds target/java, only when the pom or a source changed.
    local missing=()
    command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "tests/run.sh: installing ${missing[*]} with apt-get" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    bash tests/java/build.sh
}

install_python_packages() {
    # A venv of our own: Debian's system Python refuses pip installs (PEP 668).
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    if ! cmp -s tests/requirements.txt "$VENV/requirements.installed"; then
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt
        cp tests/requirements.txt "$VENV/requirements.installed"
    fi
}

install_node_packages() {
    # kafkajs, pinned by tests/kafkajs/package-lock.json; reinstalled when the lock changes.
    local marker=tests/kafkajs/node_modules/.millrace-lock.installed
    if ! cmp -s tests/kafkajs/package-lock.json "$marker"; then
        npm ci --prefix tests/kafkajs --no-audit --no-fund --loglevel=error
        cp tests/kafkajs/package-lock.json "$marker"
    fi
}

# Each phase's wall time goes to stderr: what the suite's 40-minute bound is spent on.
timed() {
    local started=$SECONDS
    "$@"
    echo "tests/run.sh: '$*' took $((SECONDS - started)) s" >&2
}

if ! command -v cargo >/dev/null 2>&1; then
    echo "tests/run.sh: cargo not found; install Rust first: https://rustup.rs" >&2
    exit 1
fi
timed install_system_packages
timed install_python_packages
timed install_node_packages
timed install_go_clients
timed install_java_clients
# Kafka's jars for the conformance test, on the JDK and Maven installed above (a no-op once
# resolved); it fails the run if they cannot be had: the test must not skip silently.
timed bash perf/peers/kafka.sh fetch

timed cargo build --release
timed cargo build --release --example conformance
timed cargo test --release
# The slowest tests are listed at the end, to keep the default suite within its time bound.
timed "$VENV/bin/python" -m pytest -q --durations=30 tests/ "$@"
if [ "${MILLRACE_TEST_FUZZ_SECONDS:-0}" -gt 0 ]; then
    bash fuzz/run.sh "$MILLRACE_TEST_FUZZ_SECONDS"
fi
