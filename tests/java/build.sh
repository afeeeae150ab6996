#!/usr/bin/env bash
# Builds the Java client programs (tests/java/) with Maven: classes in target/java/classes and
# every dependency jar (kafka-clients, kafka-streams, kafka-tools at the pom's pinned version)
# in target/java/lib. Rebuilt only when the pom or a source changed. Maven's local repository
# (~/.m2) caches the jars between runs.
# Exit 2: java or mvn is missing (tests/run.sh installs them); 1: the build failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=target/java
for tool in java mvn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "tests/java/build.sh: $tool not found (apt-get install default-jdk-headless maven)" >&2
        exit 2
    fi
done

stamp="$OUT/sources.sha256"
sums=$(find tests/java/pom.xml tests/java/src -type f -print0 | sort -z | xargs -0 sha256sum)
if [ -d "$OUT/classes" ] && [ -d "$OUT/lib" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sums" ]; then
    exit 0
fi
rm -rf "$OUT/classes" "$OUT/lib"
# Maven's own output only when it fails (quiet mode still prints terminal escapes).
log="$OUT/build.log"
mkdir -p "$OUT"
if ! mvn -B -q -f tests/java/pom.xml package >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
printf '%s' "$sums" >"$stamp"
