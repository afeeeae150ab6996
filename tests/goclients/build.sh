#!/usr/bin/env bash
# Builds the Go client programs (tests/goclients/*/) into target/goclients/ with
# Debian's Go and Debian's Sarama / kafka-go sources, in GOPATH mode (the Go
# module proxy is not needed). A program is rebuilt only when its sources change.
# Exit 2: Go or the -dev packages are missing (the tests skip); 1: a build failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

GOPATH_DEBIAN=/usr/share/gocode
OUT=target/goclients
REQUIRED_SOURCES=(
    "$GOPATH_DEBIAN/src/github.com/Shopify/sarama"
    "$GOPATH_DEBIAN/src/github.com/segmentio/kafka-go"
)

if ! command -v go >/dev/null 2>&1; then
    echo "tests/goclients/build.sh: go not found (apt-get install golang-go)" >&2
    exit 2
fi
for dir in "${REQUIRED_SOURCES[@]}"; do
    if [ ! -d "$dir" ]; then
        echo "tests/goclients/build.sh: $dir missing (apt-get install golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev)" >&2
        exit 2
    fi
done

mkdir -p "$OUT"
build() {
    local package=$1 binary=$2
    local stamp="$OUT/$binary.sources"
    local sums
    sums=$(sha256sum "tests/goclients/$package"/*.go)
    if [ -x "$OUT/$binary" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sums" ]; then
        return 0
    fi
    # cgo builds Sarama's zstd binding (DataDog/zstd); its deprecation warnings are noise.
    env GO111MODULE=off GOPATH="$GOPATH_DEBIAN" GOCACHE="$PWD/target/go-cache" GOFLAGS= \
        go build -o "$OUT/$binary" "./tests/goclients/$package" 2> >(grep -v -e 'deprecated' -e 'cgo-gcc-prolog' -e 'zstd' -e '^ ' -e 'In file included' >&2)
    printf '%s' "$sums" >"$stamp"
}
build sarama sarama-check
build kafkago kafka-go-check
