#!/usr/bin/env bash
# Builds the Go client programs into target/goclients/. A program is rebuilt only when
# its sources change.
#   build.sh debian  Sarama 1.22 and kafka-go 0.2.1 from Debian's -dev packages, in GOPATH
#                    mode (no module proxy): sarama-check, kafka-go-check.
#   build.sh newest  The module tests/goclients/newest (go.mod/go.sum pin franz-go, IBM/sarama,
#                    kafka-go; the module proxy serves them): franz-check, and the Debian
#                    programs' own sources built again against the newest Sarama and kafka-go
#                    (sarama-newest-check, kafka-go-newest-check; see build_newest_overlay).
# Exit 2: that kind's Go or packages are missing (its tests skip); 1: a build failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=target/goclients
MODULE=tests/goclients/newest
# A Go that can switch toolchains (1.21+) but is older than go.mod asks fetches this one from
# the module proxy (GOTOOLCHAIN); older Gos (Debian bookworm's 1.19) cannot build the module.
FALLBACK_TOOLCHAIN=go1.27.3
# Go's build cache lives outside target/ so that a clean clone (CI) reuses what an earlier run on
# this machine compiled: the cache is content-addressed, so sharing it across checkouts is safe.
GO_BUILD_CACHE="${MILLRACE_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/millrace/go-build}"
mkdir -p "$OUT" "$GO_BUILD_CACHE"

# sources_changed STAMP FILES...: true when FILES differ from the sums kept in STAMP.
sources_changed() {
    local stamp=$1
    shift
    [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(sha256sum "$@")" ]
}

build_debian() {
    local gopath=/usr/share/gocode
    if ! command -v go >/dev/null 2>&1; then
        echo "tests/goclients/build.sh: go not found (apt-get install golang-go)" >&2
        exit 2
    fi
    for dir in "$gopath/src/github.com/Shopify/sarama" "$gopath/src/github.com/segmentio/kafka-go"; do
        if [ ! -d "$dir" ]; then
            echo "tests/goclients/build.sh: $dir missing (apt-get install golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev)" >&2
            exit 2
        fi
    done
    local package binary
    for package in sarama:sarama-check kafkago:kafka-go-check; do
        binary=${package#*:}
        package=${package%%:*}
        sources_changed "$OUT/$binary.sources" tests/goclients/"$package"/*.go || continue
        # cgo builds Sarama's zstd binding (DataDog/zstd); its deprecation warnings are noise.
        env GO111MODULE=off GOPATH="$gopath" GOCACHE="$GO_BUILD_CACHE" GOFLAGS= \
            go build -o "$OUT/$binary" "./tests/goclients/$package" 2> >(grep -v -e 'deprecated' -e 'cgo-gcc-prolog' -e 'zstd' -e '^ ' -e 'In file included' >&2)
        sha256sum tests/goclients/"$package"/*.go >"$OUT/$binary.sources"
    done
}

# find_go_for_module: sets GO, the go command to build the module with, and exports GOTOOLCHAIN.
find_go_for_module() {
    local wanted candidate version
    wanted=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$MODULE/go.mod")
    for candidate in go /usr/local/go/bin/go /usr/lib/go/bin/go; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        version=$(GOTOOLCHAIN=local "$candidate" env GOVERSION 2>/dev/null) || continue
        version=${version#go}
        if [ "$(printf '%s\n%s\n' "$wanted" "$version" | sort -V | head -1)" = "$wanted" ]; then
            export GOTOOLCHAIN=local
        elif [ "$(printf '1.21\n%s\n' "$version" | sort -V | head -1)" = "1.21" ]; then
            export GOTOOLCHAIN=$FALLBACK_TOOLCHAIN
        else
            continue
        fi
        GO=$(command -v "$candidate")
        return 0
    done
    echo "tests/goclients/build.sh: no Go 1.21+ found to build $MODULE (go $wanted; older ones cannot fetch a toolchain)" >&2
    exit 2
}

# build_newest_overlay PACKAGE BINARY SED: builds the Debian program tests/goclients/PACKAGE
# inside the module, as the virtual package $MODULE/PACKAGE-newest, its sources passed
# through SED (Sarama moved from github.com/Shopify to github.com/IBM), with the build tag
# `newest` (files only the newest client can compile).
build_newest_overlay() {
    local package=$1 binary=$2 rewrite=$3 overlay_dir="$OUT/overlay/$1" file name entries=()
    rm -rf "$overlay_dir"
    mkdir -p "$overlay_dir"
    for file in tests/goclients/"$package"/*.go; do
        name=$(basename "$file")
        sed -e "$rewrite" "$file" >"$overlay_dir/$name"
        entries+=("\"$PWD/$MODULE/$package-newest/$name\": \"$PWD/$overlay_dir/$name\"")
    done
    local IFS=,
    printf '{"Replace": {%s}}\n' "${entries[*]}" >"$overlay_dir.json"
    "$GO" build -C "$MODULE" -tags newest -overlay "$PWD/$overlay_dir.json" -o "$PWD/$OUT/$binary" "./$package-newest"
}

build_newest() {
    find_go_for_module
    export GOCACHE="$GO_BUILD_CACHE" GOFLAGS=-mod=readonly
    local inputs=("$MODULE"/go.mod "$MODULE"/go.sum "$MODULE"/franz/*.go tests/goclients/sarama/*.go tests/goclients/kafkago/*.go)
    sources_changed "$OUT/newest.sources" "${inputs[@]}" || return 0
    "$GO" build -C "$MODULE" -o "$PWD/$OUT/franz-check" ./franz
    build_newest_overlay sarama sarama-newest-check 's#"github.com/Shopify/sarama"#"github.com/IBM/sarama"#'
    build_newest_overlay kafkago kafka-go-newest-check ''
    sha256sum "${inputs[@]}" >"$OUT/newest.sources"
}

case "${1:-}" in
    debian) build_debian ;;
    newest) build_newest ;;
    *)
        echo "usage: tests/goclients/build.sh debian|newest" >&2
        exit 64
        ;;
esac
