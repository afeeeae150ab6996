"""A broker started under `taskset -c N` pins its shards inside that mask (issue 14 §2: with
the client on one core and the shard on the other, the latency tail can be told apart from
co-scheduling). glommio's own CPU list ignores the affinity mask: before the fix the one shard
of a broker under `taskset -c 1` was pinned to CPU 0, where a client had been put."""

import os
from pathlib import Path

import pytest

from conftest import Broker


def thread_cpus(pid):
    """{thread name: allowed CPU list} of every thread of process `pid`."""
    cpus = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        name = (task / "comm").read_text().strip()
        status = (task / "status").read_text()
        allowed = next(line.split(":", 1)[1].strip() for line in status.splitlines()
                       if line.startswith("Cpus_allowed_list"))
        cpus.setdefault(name, set()).add(allowed)
    return cpus


class PinnedBroker(Broker):
    def __init__(self, cpu, *args):
        super().__init__(*args)
        self.cpu = cpu

    def command(self):
        return ["taskset", "-c", str(self.cpu)] + super().command()


def test_one_shard_under_taskset_is_pinned_to_the_given_cpu(tmp_path):
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs two CPUs")
    cpu = allowed[-1]  # not the first: glommio's own choice for one shard would be the first
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    b = PinnedBroker(cpu, data_dir, tmp_path / "stderr.log", {"num.shards": 1})
    try:
        b.start()
        cpus = thread_cpus(b.process.pid)
        shards = {name: sets for name, sets in cpus.items() if name.startswith("millrace-shard")}
        assert shards, f"no shard thread among {sorted(cpus)}"
        outside = {name: sets for name, sets in cpus.items() if sets != {str(cpu)}}
        assert not outside, f"threads allowed outside CPU {cpu}: {outside}"
    finally:
        b.kill()
