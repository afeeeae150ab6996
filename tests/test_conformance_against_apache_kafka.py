"""Differential conformance: the same requests to Apache Kafka 4.4 and to millrace, both answers
decoded and compared field by field (examples/conformance, a kafka-protocol based tool).

Two kinds of request sequences: the built-in corpus (topic admin, configs, data, bad batches,
idempotence, groups, unsupported versions, error cases) and real clients' requests recorded by
tests/conformance/record.py (confluent-kafka, kafka-python, kcat) and replayed.

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
    """The comparing tool, built by tests/run.sh beside the broker (as target/release/millrace
    is): building it here could outlast a test's timeout."""
    assert TOOL.exists(), f"{TOOL} not built: run `cargo build --release --example conformance`"
    return TOOL


def run_tool(tool, mode, kafka, millrace, scope, *extra):
    try:
        done = subprocess.run(
            [str(tool), mode, "--kafka", kafka, "--millrace", millrace, "--scope", scope, *extra],
            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as hung:
        progress = hung.stderr.decode(errors="replace") if isinstance(hung.stderr, bytes) else hung.stderr
        raise AssertionError(f"conformance {mode} hung for {TOOL_TIMEOUT_S}s; its progress:\n{progress}")
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


def load_lists():
    """(allowed fields, known differences) as tuples (where, *fields) from tests/conformance/."""
    allowed = read_entries("allowed_fields.txt", 3)
    for where, glob, scope, _ in allowed:
        assert scope in ("value", "any"), f"{where}: {glob}: want `value` or `any`, not {scope!r}"
    return allowed, read_entries("known_differences.txt", 4)


def judge(steps, allowed, known):
    """Splits every difference into allowed / known / new. Returns (new differences, stale
    known entries): an entry is stale when a step it names ran and showed none of its fields."""
    used = set()
    new = []
    for step in steps:
        where = f"{step['sequence']}/{step['step']}"
        for diff in step["differences"]:
            path = diff["path"]
            if allowed_to_differ(diff, allowed):
                continue
            match = next(
                (entry for entry in known if matches(where, entry[1]) and matches(path, entry[2])),
                None,
            )
            if match:
                used.add(match[0])
                continue
            new.append(f"{where} [{step['api']} v{step['version']}] {path}: "
                       f"kafka={diff['kafka']!r} millrace={diff['millrace']!r}")
    ran = [f"{step['sequence']}/{step['step']}" for step in steps]
    stale = [
        f"{entry[0]}: {entry[1]} | {entry[2]}"
        for entry in known
        if entry[0] not in used and any(matches(where, entry[1]) for where in ran)
    ]
    return new, stale


def assert_conforms(steps):
    assert steps, "the conformance tool compared nothing"
    new, stale = judge(steps, *load_lists())
    message = []
    if new:
        message.append(f"{len(new)} difference(s) from Apache Kafka not in tests/conformance/known_differences.txt "
                       "(fix the broker, or list them with their reason):\n  " + "\n  ".join(new))
    if stale:
        message.append("known differences that no longer show (delete these entries):\n  " + "\n  ".join(stale))
    assert not message, "\n".join(message)


def test_judge_fails_new_differences_and_stale_entries():
    """The judging itself, without brokers: an unlisted difference is new, a listed one whose
    step ran without it is stale, and a `value` field set on one side only is a difference."""
    allowed = [("a:1", "*topic_id", "value", "ids"), ("a:2", "*error_message", "any", "text")]
    known = [
        ("k:1", "seq/known step", "error_code", "issue X", "listed"),
        ("k:2", "seq/quiet step", "error_code", "issue X", "listed, but it no longer shows"),
        ("k:3", "other/*", "error_code", "issue X", "its steps did not run here"),
    ]

    def step(name, *differences):
        return {"sequence": "seq", "step": name, "api": "Metadata", "version": 12,
                "differences": [{"path": p, "kafka": k, "millrace": m} for p, k, m in differences]}

    steps = [
        step("known step", ("error_code", "3", "0")),
        step("quiet step"),
        step("new step", ("error_code", "3", "0"), ("error_message", "None", '"text"')),
        step("ids", ("topics[t].topic_id", "9a01f354-92be-49ed-9bca-6b23145fe0e3",
                     "d528ce30-f87e-4d0d-a132-562a13bfb5f5")),
        step("nil id", ("responses[t].topic_id", "9a01f354-92be-49ed-9bca-6b23145fe0e3",
                        "00000000-0000-0000-0000-000000000000")),
    ]
    new, stale = judge(steps, allowed, known)
    assert [line.split(" [")[0] for line in new] == ["seq/new step", "seq/nil id"], new
    assert stale == ["k:2: seq/quiet step | error_code"], stale


def test_request_corpus_answers_like_apache_kafka(apache_kafka, broker, conformance_tool):
    millrace = broker()
    scope = f"c{uuid.uuid4().hex[:8]}-"
    steps = run_tool(conformance_tool, "corpus", apache_kafka.bootstrap, millrace.bootstrap, scope)
    assert len(steps) > 80, f"only {len(steps)} steps ran"
    assert_conforms(steps)


RECORDINGS = LISTS / "recordings"
# The name token of tests/conformance/record.py; a replay's scope must be as long.
RECORDING_TOKEN = "rec00000"


def recorded_requests(path):
    return sum(1 for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))


@pytest.mark.parametrize("recording", sorted(p.name for p in RECORDINGS.glob("*.rec")))
def test_recorded_client_sequences_answer_like_apache_kafka(apache_kafka, broker, conformance_tool, recording):
    """What a real client sent (tests/conformance/recordings, by tests/conformance/record.py),
    replayed to both brokers with each broker's own member, producer, session and topic ids."""
    millrace = broker()
    scope = f"r{uuid.uuid4().hex[:len(RECORDING_TOKEN) - 1]}"
    path = RECORDINGS / recording
    steps = run_tool(conformance_tool, "replay", apache_kafka.bootstrap, millrace.bootstrap, scope,
                     "--recording", str(path))
    assert len(steps) == recorded_requests(path), f"{len(steps)} of {recorded_requests(path)} requests replayed"
    assert_conforms(steps)
