"""Differential conformance: the same requests to Apache Kafka 4.4 and to millrace, both answers
decoded and compared field by field (examples/conformance, a kafka-protocol based tool).

A field may differ only if tests/conformance/allowed_fields.txt allows it everywhere (ids,
ports, ...) or tests/conformance/known_differences.txt lists it for that step with its reason.
Any other difference fails the test, and so does a known difference that no longer shows (the
list must stay true). Kafka is started once per run by the `apache_kafka` fixture.
"""

import fnmatch
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import REPO_ROOT

TOOL = REPO_ROOT / "target" / "release" / "examples" / "conformance"
LISTS = Path(__file__).resolve().parent / "conformance"
# Below pytest's 240 s per-test timeout, so a hang is reported with the tool's progress.
TOOL_TIMEOUT_S = 150


def read_entries(name, fields):
    entries = []
    for number, line in enumerate((LISTS / name).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ", fields - 1)]
        assert len(parts) == fields and all(parts), f"{name}:{number}: want {fields} ' | '-separated parts: {line}"
        entries.append((f"{name}:{number}", *parts))
    return entries


@pytest.fixture(scope="session")
def conformance_tool():
    built = subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--example", "conformance"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert built.returncode == 0, f"building examples/conformance failed:\n{built.stderr}"
    return TOOL


def run_tool(tool, mode, kafka, millrace, scope, *extra):
    try:
        done = subprocess.run(
            [str(tool), mode, "--kafka", kafka, "--millrace", millrace, "--scope", scope, *extra],
            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as hung:
        raise AssertionError(f"conformance {mode} hung for {TOOL_TIMEOUT_S}s; its progress:\n{hung.stderr}")
    assert done.returncode == 0, f"conformance {mode} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def matches(text, glob):
    """fnmatch with `*` and `?` only: brackets in paths (`topics[t]`) are literal."""
    literal = "".join({"[": "[[]", "]": "[]]"}.get(c, c) for c in glob)
    return fnmatch.fnmatchcase(text, literal)


# Values that stand for "none": an allowed field may differ in value, not in whether it is set
# (a nil topic id where Kafka names the topic's id is a difference).
UNSET_VALUES = {"00000000-0000-0000-0000-000000000000", '""', "-1", "None", "[]"}


def presence(value):
    if value is None:
        return "absent"
    return "unset" if value in UNSET_VALUES else "set"


def allowed_to_differ(diff, allowed):
    """Whether an allowed_fields.txt entry covers `diff`: `value` entries let the value differ
    while both brokers set the field (or both leave it unset), `any` entries let it differ
    in every way."""
    same_presence = presence(diff["kafka"]) == presence(diff["millrace"])
    return any(
        matches(diff["path"], glob) and (scope == "any" or same_presence)
        for _, glob, scope, _ in allowed
    )


def judge(steps):
    """Splits every difference into allowed / known / new; returns (new, stale known entries)."""
    allowed = read_entries("allowed_fields.txt", 3)
    for where, glob, scope, _ in allowed:
        assert scope in ("value", "any"), f"{where}: {glob}: want `value` or `any`, not {scope!r}"
    known = read_entries("known_differences.txt", 4)
    used = set()
    new = []
    sequences = {s["sequence"] for s in steps}
    for step in steps:
        where = f"{step['sequence']}/{step['step']}"
        for diff in step["differences"]:
            path = diff["path"]
            if allowed_to_differ(diff, allowed):
                continue
            match = next(
                (entry for entry in known
                 if matches(where, entry[1]) and matches(path, entry[2])),
                None,
            )
            if match:
                used.add(match[0])
                continue
            new.append(f"{where} [{step['api']} v{step['version']}] {path}: "
                       f"kafka={diff['kafka']!r} millrace={diff['millrace']!r}")
    stale = [
        f"{entry[0]}: {entry[1]} | {entry[2]}"
        for entry in known
        if entry[0] not in used and any(matches(f"{s}/x", entry[1].split("/")[0] + "/x") for s in sequences)
    ]
    return new, stale


def assert_conforms(steps):
    assert steps, "the conformance tool compared nothing"
    new, stale = judge(steps)
    message = []
    if new:
        message.append(f"{len(new)} difference(s) from Apache Kafka not in tests/conformance/known_differences.txt "
                       "(fix the broker, or list them with their reason):\n  " + "\n  ".join(new))
    if stale:
        message.append("known differences that no longer show (delete these entries):\n  " + "\n  ".join(stale))
    assert not message, "\n".join(message)


def test_request_corpus_answers_like_apache_kafka(apache_kafka, broker, conformance_tool):
    millrace = broker()
    scope = f"c{uuid.uuid4().hex[:8]}-"
    steps = run_tool(conformance_tool, "corpus", apache_kafka.bootstrap, millrace.bootstrap, scope)
    assert len(steps) > 80, f"only {len(steps)} steps ran"
    assert_conforms(steps)
