"""A start that cannot make progress fails visibly, and a data directory that needs more open
files than allowed is refused at start.

- A shard whose start-up stalls (here: recovery after a kill -9 fsyncs each partition's active
  segment, on a device that never finishes an fsync, `storage.fault.plan=slow-sync`) used to
  leave a process that never served and never exited. With `startup.timeout.ms` the broker exits 1 within that bound (plus one
  poll) and names where each shard stands.
- Every open partition holds 1 descriptor (its active segment's file), and each shard a bounded
  cache of read handles (`log.read.handles.per.shard`). At start the broker raises the soft
  RLIMIT_NOFILE to the hard one and compares what the data directory needs with it; when that is
  too low it refuses to start with a message naming the limit and what to run, instead of EMFILE
  while serving.
"""

import os
import resource
import subprocess
import time

import clients
from conftest import BROKER_BINARY, HOST, free_port

STARTUP_TIMEOUT_MS = 2_000
# The stall bound plus generous room for a loaded machine; far below "never".
EXIT_DEADLINE_S = 30.0
PARTITIONS = 300
# The committed offsets' partitions count too (offsets.topic.num.partitions, Kafka's default 50):
# they open at a group's first commit, and the check must hold for that moment as well.
OFFSETS_PARTITIONS = 50
TIGHT_LIMIT = 512
# Under TIGHT_LIMIT each of the 2 shards gets the fewest read handles (8).
READ_HANDLES = 2 * 8
# 300 partitions + 50 offsets partitions need 1 * 350 + the read handles + 1024 descriptors.
NEEDED_FDS = (PARTITIONS + OFFSETS_PARTITIONS) + READ_HANDLES + 1024
READY_TIMEOUT_S = 60.0


def serve_command(data_dir, port, **overrides):
    settings = {
        "listeners": f"PLAINTEXT://{HOST}:{port}",
        "log.dirs": str(data_dir),
        "num.shards": "2",
        "http.listener": "",
    }
    settings.update(overrides)
    cmd = [str(BROKER_BINARY), "serve"]
    for key, value in settings.items():
        cmd += ["--override", f"{key}={value}"]
    return cmd


def run_until_exit(cmd, log_path, timeout_s, env=None, preexec_fn=None):
    """Runs `cmd`; returns (exit code or None if still running at the deadline, seconds, log)."""
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, preexec_fn=preexec_fn
        )
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
            process.kill()
            process.wait(timeout=timeout_s)
    return code, time.monotonic() - started, log_path.read_text(errors="replace")


def test_a_start_stalled_on_a_hung_fsync_exits_naming_the_stuck_shards(broker, tmp_path):
    handle = broker(**{"num.shards": 2})
    clients.create_topic(handle.bootstrap, clients.unique_topic("stall"), 4)
    handle.kill()  # unclean: the restart recovers, and recovery fsyncs each active segment
    env = dict(os.environ, MILLRACE_ALLOW_FAULT_INJECTION="1")
    cmd = serve_command(
        handle.data_dir,
        free_port(),
        **{
            # Every fsync of a segment takes ten minutes: a hung device.
            "storage.fault.plan": "slow-sync:ms=600000",
            "startup.timeout.ms": str(STARTUP_TIMEOUT_MS),
        },
    )
    code, elapsed_s, log = run_until_exit(cmd, tmp_path / "broker.log", EXIT_DEADLINE_S, env=env)

    assert code is not None, f"still starting after {EXIT_DEADLINE_S}s: a silent hang\n{log[-3000:]}"
    assert code == 1, log[-3000:]
    assert elapsed_s >= STARTUP_TIMEOUT_MS / 1000, f"failed before the bound: {elapsed_s:.1f}s"
    assert f"start-up made no progress for {STARTUP_TIMEOUT_MS} ms (startup.timeout.ms)" in log, log[-3000:]
    assert "opening partitions (0 of 2 open)" in log, log[-3000:]
    assert "millrace ready" not in log


def set_open_file_limit(soft, hard):
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def data_dir_with_partitions(broker, partitions):
    handle = broker(**{"num.shards": 2})
    clients.create_topic(handle.bootstrap, clients.unique_topic("fds"), partitions)
    assert handle.stop() == 0
    return handle.data_dir


def test_too_low_an_open_file_limit_is_refused_at_start_with_what_to_run(broker, tmp_path):
    data_dir = data_dir_with_partitions(broker, PARTITIONS)
    cmd = serve_command(data_dir, free_port())
    code, _, log = run_until_exit(
        cmd, tmp_path / "tight.log", READY_TIMEOUT_S, preexec_fn=set_open_file_limit(TIGHT_LIMIT, TIGHT_LIMIT)
    )

    assert code == 1, log[-3000:]
    expected = f"holds {PARTITIONS + OFFSETS_PARTITIONS} partition(s) and 0 sealed segment(s), which need about {NEEDED_FDS} open files"
    assert expected in log, log[-3000:]
    assert f"(RLIMIT_NOFILE) is {TIGHT_LIMIT} (hard limit {TIGHT_LIMIT})" in log, log[-3000:]
    assert f"ulimit -n {NEEDED_FDS}" in log, log[-3000:]
    assert "Too many open files" not in log


def test_a_low_soft_open_file_limit_is_raised_to_the_hard_limit(broker, tmp_path):
    data_dir = data_dir_with_partitions(broker, PARTITIONS)
    port = free_port()
    cmd = serve_command(data_dir, port)
    log_path = tmp_path / "raised.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=set_open_file_limit(TIGHT_LIMIT, NEEDED_FDS * 2),
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "millrace ready" not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        limits = open(f"/proc/{process.pid}/limits").read()
        soft = next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3]
        assert int(soft) == NEEDED_FDS * 2, limits
        assert f"open files: limit {NEEDED_FDS * 2} (hard {NEEDED_FDS * 2})" in log_path.read_text(errors="replace")
        topics = clients.AdminClient(clients.quiet_config(f"{HOST}:{port}")).list_topics(timeout=10).topics
        assert any(len(t.partitions) == PARTITIONS for t in topics.values()), topics
    finally:
        process.kill()
        process.wait(timeout=30)
