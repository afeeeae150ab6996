#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each (default 60): the extended
# mode of the test suite. Exits non-zero if any target finds a crash, a panic,
# a leak or an out-of-memory; the input is left in fuzz/target/artifacts/<target>/.
#
#   bash fuzz/run.sh [seconds]
#
# Environment:
#   FUZZ_SANITIZER=address|none   default address (ASan; also enforces the
#                                 per-allocation limit below). `none` builds
#                                 faster and runs ~2x more executions.
#   FUZZ_MALLOC_LIMIT_MB=N        a single allocation above this is a finding
#                                 (default 512; the broker's own limits are
#                                 100 MiB per request, 1 MiB per batch).
#   FUZZ_KEEP_GOING=1             fork mode: record crashes/OOMs and keep
#                                 fuzzing for the whole time (still exits 1).
#   FUZZ_TARGETS="a b"            only these targets.
#
# Only the stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass
# its -Z flags. Builds go to fuzz/target/<sanitizer>/ (switching sanitizer in
# one target dir rebuilds everything). New inputs go to
# fuzz/target/run-corpus/, crash inputs to fuzz/target/artifacts/<target>/
# (both ignored by git), never into the committed seed corpus fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
malloc_limit_mb="${FUZZ_MALLOC_LIMIT_MB:-512}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz from crates.io" >&2
    cargo install --locked cargo-fuzz
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
libfuzzer_args=(-max_total_time="$seconds" -malloc_limit_mb="$malloc_limit_mb" -rss_limit_mb=2048)
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    libfuzzer_args+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
fi

failed=()
summary=()
for target in $targets; do
    scratch="target/run-corpus/$target"
    log="target/run-logs/$target.log"
    artifacts="$PWD/target/artifacts/$target/"
    mkdir -p "$scratch" "corpus/$target" "$(dirname "$log")" "$artifacts"
    echo "== fuzz/run.sh: $target for ${seconds}s (sanitizer $sanitizer)" >&2
    status=0
    # Corpus dirs: new inputs go to the first; the kept crash inputs run
    # first thing as regression tests.
    corpora=("$scratch" "corpus/$target")
    [ -d "artifacts-kept/$target" ] && corpora+=("artifacts-kept/$target")
    cargo fuzz run --sanitizer "$sanitizer" --target-dir "target/$sanitizer" \
        "$target" "${corpora[@]}" -- \
        "${libfuzzer_args[@]}" -artifact_prefix="$artifacts" >"$log" 2>&1 || status=$?
    # libFuzzer status lines start "#<executions>"; fork mode reports "execs: N".
    runs="$(grep -oE '^#[0-9]+|execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)"
    findings="$(grep -cE '^(==[0-9]+== ?ERROR|SUMMARY: libFuzzer)|panicked at' "$log" || true)"
    if [ "$status" -ne 0 ] || [ "${findings:-0}" -gt 0 ]; then
        failed+=("$target")
        summary+=("$target: FAILED (exit $status, ${runs:-?} executions) - see fuzz/$log and fuzz/target/artifacts/$target/")
        grep -E 'panicked at|ERROR: |SUMMARY: ' "$log" | head -5 >&2 || true
    else
        summary+=("$target: ok, ${runs:-?} executions")
    fi
done

# cargo-fuzz creates fuzz/artifacts/<target>/ even though -artifact_prefix
# points elsewhere; drop them when empty so git status stays clean.
rmdir artifacts/* artifacts 2>/dev/null || true

printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz/run.sh: findings in: ${failed[*]}" >&2
    exit 1
fi
